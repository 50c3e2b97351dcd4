// The vocabulary in which every kind of trace event, and every record
// nested in one, is described once, as data (the descriptions themselves
// are in event_descriptions.h).
//
// A Description is a table of Field rows, one per member, in the struct's
// order (a member that one form says at another place gets a second row,
// for that form alone). A row names its member three ways: its key in
// `kvmrr dump --json`, its label in the human line of `kvmrr dump`, and
// its name when replay or `kvmrr diff` says how two events differ
// (nullptr leaves it out of that form). It says how the value is shown (a
// Format, and now and then an option) and how it is read. The human and
// JSON formatters (trace_text.cc) and the comparison
// (replay/event_compare.cc) each walk the rows generically; what is really
// peculiar to one field or one kind is an option or a small hook on its
// row or its description.
//
// Rows read records passed as `const void*`, which is what lets one walker,
// not one per kind, go through any record and into the records nested in
// it. The walkers only ever hand a row the record its own table describes
// (described() pairs an event's body with its description, a nested row
// its value with the nested description), and a row is made by
// field<&Struct::member>(), which reads that member and checks at compile
// time that the format fits the member's type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace kvmrr {

class RegionNames;
struct Description;

// How a value is shown: human line / JSON / a difference.
enum class Format : uint8_t {
    Dec,          // unsigned decimal / number / decimal
    Signed,       // signed decimal / number / decimal
    Nanoseconds,  // signed decimal / number / decimal and " ns"
    Hex,          // 0x... / "0x..." (so no parser rounds it) / 0x...
    Flag,         // bool: names[0] or names[1] ("no", "yes" by default) / true, false / names
    Enum,         // names[value] / the name as a string / the name
    Region,       // a region id: its name (RegionNames) / "key": id and "key_name": name, null for none
                  // or unknown / 'name'; two regions are the same when their names are
    Text,         // std::string: a word, quoted if need be / a string / 'text'
    Bytes,        // std::vector<uint8_t>: "len N label hex", cut after 32 bytes / complete hex /
                  // the first byte that differs, or the two lengths
    Words,        // std::vector<uint64_t>: 0x... each, comma-separated / an array of "0x..."
    Record,       // a nested record (options.nested): its own rows, in line in all three forms
    List,         // std::vector of nested records (options.nested): compared element by element,
                  // not shown by the dump
};

// A row's value as the walkers see it; points into the record, copies nothing.
struct FieldValue {
    uint64_t number = 0;  // Dec, Hex, Flag, Enum, Region; signed members sign-extended
    const std::string* text = nullptr;
    const std::vector<uint8_t>* bytes = nullptr;
    const std::vector<uint64_t>* words = nullptr;
    const void* record = nullptr;  // Record: the record; List: the first element
    size_t count = 0;              // List: how many elements
    size_t stride = 0;             // List: bytes from one element to the next

    int64_t signed_number() const { return static_cast<int64_t>(number); }
    const void* element(size_t i) const { return static_cast<const char*>(record) + i * stride; }
};

// The words of a difference: "name: expected A, actual B", parts joined by "; ".
struct Differences {
    std::string text;
    void add(const std::string& part) {
        if (!text.empty()) text += "; ";
        text += part;
    }
    void add(const char* name, const std::string& expected, const std::string& actual) {
        add(std::string(name) + ": expected " + expected + ", actual " + actual);
    }
};

// What only some rows need. Each is used where a field is shown in a way
// its format alone does not give; the comment on the row says why.
struct FieldOptions {
    std::span<const char* const> names = {};  // Enum: by value; Flag: {false, true}
    const char* unknown_prefix = nullptr;     // Enum past `names`: this and the number (else "unknown")
    bool json_number = false;                 // Hex: a JSON number rather than a "0x..." string
    bool negative_is_none = false;            // a negative value is "none" (null in JSON)
    bool number_in_difference = false;        // Enum: a difference says the number
    bool empty_is_unrecorded = false;         // List: compared only when neither side is empty
    const Description* nested = nullptr;      // Record, List: how the nested record is described
    // The value in the human line when the format does not say it the way
    // people read it; "" leaves the field out of the line.
    std::string (*human_value)(const void* record) = nullptr;
    // How a difference is said when "name: expected A, actual B" does not
    // fit; called only when the two values differ.
    void (*say_difference)(const FieldValue& expected, const FieldValue& actual, Differences& out) = nullptr;
};

// For a Record row, "" in a name column means "its rows say it", nullptr
// leaves the whole record out of that form.
struct Field {
    const char* json;     // key in the JSON form; nullptr: left out
    const char* human;    // label in the human line; "": the value alone; nullptr: left out
    const char* compare;  // name in a difference; nullptr: not compared (the row says why)
    Format format;
    FieldValue (*read)(const void* record);
    FieldOptions options;
};

// One record type: an event kind, or a record nested in events.
struct Description {
    std::span<const Field> fields;
    // Event kinds only.
    const char* kind = nullptr;           // event_kind(): stable, scripts read it
    bool nondeterministic_input = false;  // is_nondeterministic_input(): chosen by the world outside the guest
    const char* (*kind_of)(const void* body) = nullptr;  // when the kind's name depends on the body
    // The human line after the kind's name, when it reads as a sentence
    // rather than as "label value" pairs.
    std::string (*human_line)(const void* body, const RegionNames& names) = nullptr;
};

// The name an Enum or Flag row gives a value.
inline std::string name_of(const Field& f, uint64_t value) {
    static constexpr const char* kNoYes[] = {"no", "yes"};
    std::span<const char* const> names = f.options.names;
    if (names.empty()) names = kNoYes;
    if (value < names.size()) return names[value];
    if (f.options.unknown_prefix) return f.options.unknown_prefix + std::to_string(value);
    return "unknown";
}

namespace field_detail {

template <class M>
struct Member;
template <class C, class T>
struct Member<T C::*> {
    using Class = C;
    using Type = T;
};

template <class T>
inline constexpr bool is_vector = false;
template <class T>
inline constexpr bool is_vector<std::vector<T>> = true;

template <class T>
FieldValue value_of(const T& v) {
    FieldValue out;
    if constexpr (std::is_same_v<T, std::string>) {
        out.text = &v;
    } else if constexpr (std::is_same_v<T, std::vector<uint8_t>>) {
        out.bytes = &v;
    } else if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
        out.words = &v;
    } else if constexpr (is_vector<T>) {
        out.record = v.data();
        out.count = v.size();
        out.stride = sizeof(typename T::value_type);
    } else if constexpr (std::is_class_v<T>) {
        out.record = &v;
    } else if constexpr (std::is_enum_v<T>) {
        out.number = static_cast<uint64_t>(v);
    } else if constexpr (std::is_signed_v<T>) {
        out.number = static_cast<uint64_t>(static_cast<int64_t>(v));
    } else {
        out.number = v;
    }
    return out;
}

template <class T>
constexpr bool fits(Format f, const FieldOptions& o) {
    const bool nested = f == Format::Record || f == Format::List;
    if (nested != (o.nested != nullptr)) return false;
    if (f == Format::Enum && o.names.empty()) return false;
    if (!o.names.empty() && f != Format::Enum && f != Format::Flag) return false;
    if (o.unknown_prefix && f != Format::Enum) return false;
    if (o.json_number && f != Format::Hex) return false;
    if (o.negative_is_none && !std::is_signed_v<T>) return false;
    if (o.number_in_difference && f != Format::Enum) return false;
    if (o.empty_is_unrecorded && f != Format::List) return false;
    if constexpr (std::is_same_v<T, std::string>) return f == Format::Text;
    if constexpr (std::is_same_v<T, std::vector<uint8_t>>) return f == Format::Bytes;
    if constexpr (std::is_same_v<T, std::vector<uint64_t>>) return f == Format::Words;
    if constexpr (is_vector<T>) return f == Format::List;
    if constexpr (std::is_class_v<T>) return f == Format::Record;
    if constexpr (std::is_same_v<T, bool>) return f == Format::Flag;
    if constexpr (std::is_enum_v<T>) return f == Format::Enum;
    if constexpr (std::is_signed_v<T>) return f == Format::Signed || f == Format::Nanoseconds || f == Format::Hex;
    return f == Format::Dec || f == Format::Hex || f == Format::Enum || f == Format::Region;
}

// Not constexpr: a call to it in field<>() stops the compilation, and the
// error names it.
void the_format_or_options_do_not_fit_the_member();

}  // namespace field_detail

// The row for `member`: field<&MemslotEvent::slot>("slot", "slot", "slot", Format::Dec).
template <auto member>
consteval Field field(const char* json, const char* human, const char* compare, Format format,
                      FieldOptions options = {}) {
    using Class = typename field_detail::Member<decltype(member)>::Class;
    using Type = typename field_detail::Member<decltype(member)>::Type;
    if (!field_detail::fits<Type>(format, options)) field_detail::the_format_or_options_do_not_fit_the_member();
    // The dump does not show lists (none is shown today); say so here
    // rather than print nothing.
    if (format == Format::List && (json || human)) field_detail::the_format_or_options_do_not_fit_the_member();
    return Field{json, human, compare, format,
                 [](const void* record) { return field_detail::value_of(static_cast<const Class*>(record)->*member); },
                 options};
}

}  // namespace kvmrr
