"""One module a pipeline stage; each reads the previous stage's artifact and writes its own."""
