// A small JSON reader for the engine's sidecar (<engine>.json): enough to read its strings, numbers and
// lists without a JSON library. Not a general-purpose parser: no \u escapes beyond ASCII, no streaming.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace edge_swin_example {

struct Json {
    enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
    bool boolean = false;
    double number = 0.0;
    std::string text;
    std::vector<Json> items;
    std::map<std::string, Json> fields;

    bool isNull() const { return kind == Kind::kNull; }
    // The member `key` of an object, or a null value when absent (so lookups chain safely).
    Json const& operator[](std::string const& key) const {
        static Json const kMissing;
        auto it = fields.find(key);
        return it == fields.end() ? kMissing : it->second;
    }
    std::string str(std::string const& fallback = "") const { return kind == Kind::kString ? text : fallback; }
    double num(double fallback = 0.0) const { return kind == Kind::kNumber ? number : fallback; }
};

namespace detail {

class JsonParser {
public:
    explicit JsonParser(std::string const& s) : mText(s) {}

    Json parseDocument() {
        Json value = parseValue();
        skipSpace();
        if (mPos != mText.size()) {
            fail("trailing characters");
        }
        return value;
    }

private:
    [[noreturn]] void fail(std::string const& what) const {
        throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(mPos));
    }
    void skipSpace() {
        while (mPos < mText.size() && (mText[mPos] == ' ' || mText[mPos] == '\n' || mText[mPos] == '\r' || mText[mPos] == '\t')) {
            ++mPos;
        }
    }
    bool consume(char c) {
        skipSpace();
        if (mPos < mText.size() && mText[mPos] == c) {
            ++mPos;
            return true;
        }
        return false;
    }
    void expectWord(char const* word, size_t n) {
        if (mText.compare(mPos, n, word) != 0) {
            fail("unexpected token");
        }
        mPos += n;
    }
    std::string parseString() {
        if (!consume('"')) {
            fail("expected a string");
        }
        std::string out;
        while (mPos < mText.size() && mText[mPos] != '"') {
            char c = mText[mPos++];
            if (c == '\\' && mPos < mText.size()) {
                char e = mText[mPos++];
                switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (mPos + 4 > mText.size()) {
                        fail("bad \\u escape");
                    }
                    long code = std::strtol(mText.substr(mPos, 4).c_str(), nullptr, 16);
                    mPos += 4;
                    out += code < 128 ? static_cast<char>(code) : '?';
                    break;
                }
                default: out += e; // \" \\ \/
                }
            } else {
                out += c;
            }
        }
        if (mPos >= mText.size()) {
            fail("unterminated string");
        }
        ++mPos;
        return out;
    }
    Json parseValue() {
        skipSpace();
        if (mPos >= mText.size()) {
            fail("unexpected end");
        }
        Json v;
        char c = mText[mPos];
        if (c == '{') {
            ++mPos;
            v.kind = Json::Kind::kObject;
            if (consume('}')) {
                return v;
            }
            do {
                std::string key = parseString();
                if (!consume(':')) {
                    fail("expected ':'");
                }
                v.fields[key] = parseValue();
            } while (consume(','));
            if (!consume('}')) {
                fail("expected '}'");
            }
        } else if (c == '[') {
            ++mPos;
            v.kind = Json::Kind::kArray;
            if (consume(']')) {
                return v;
            }
            do {
                v.items.push_back(parseValue());
            } while (consume(','));
            if (!consume(']')) {
                fail("expected ']'");
            }
        } else if (c == '"') {
            v.kind = Json::Kind::kString;
            v.text = parseString();
        } else if (c == 't') {
            expectWord("true", 4);
            v.kind = Json::Kind::kBool;
            v.boolean = true;
        } else if (c == 'f') {
            expectWord("false", 5);
            v.kind = Json::Kind::kBool;
        } else if (c == 'n') {
            expectWord("null", 4);
        } else {
            char* end = nullptr;
            v.number = std::strtod(mText.c_str() + mPos, &end);
            if (end == mText.c_str() + mPos) {
                fail("unexpected character");
            }
            mPos = static_cast<size_t>(end - mText.c_str());
            v.kind = Json::Kind::kNumber;
        }
        return v;
    }

    std::string const& mText;
    size_t mPos = 0;
};

} // namespace detail

inline Json parseJson(std::string const& text) {
    return detail::JsonParser(text).parseDocument();
}

} // namespace edge_swin_example
