#include "replay/plot_canvas.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numbers>
#include <regex>

#include "core/error.h"

namespace kvmrr {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

std::string xml_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

std::string xml_unescape(const std::string& s) {
    static const std::pair<const char*, char> entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
                                                            {"&apos;", '\''}};
    std::string o;
    for (size_t i = 0; i < s.size();) {
        bool matched = false;
        for (const auto& [name, c] : entities) {
            const size_t n = std::strlen(name);
            if (s.compare(i, n, name) == 0) {
                o += c;
                i += n;
                matched = true;
                break;
            }
        }
        if (!matched) o += s[i++];
    }
    return o;
}

// Names come from traces: what is not UTF-8 (cairo refuses it) or is a
// control character (XML refuses it) becomes '?'.
std::string printable(const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size() && (n > 1 || c >= 0x20) && c != 0x7f;
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        // No overlong forms, surrogates or code points past U+10FFFF.
        const auto c1 = ok && n > 1 ? static_cast<unsigned char>(s[i + 1]) : 0;
        if (ok && n == 2) ok = c >= 0xc2;
        if (ok && n == 3) ok = (c != 0xe0 || c1 >= 0xa0) && (c != 0xed || c1 < 0xa0);
        if (ok && n == 4) ok = c <= 0xf4 && (c != 0xf0 || c1 >= 0x90) && (c != 0xf4 || c1 < 0x90);
        if (ok) {
            o.append(s, i, n);
            i += n;
        } else {
            o += '?';
            ++i;
        }
    }
    return o;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write the picture " + path + ": " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw Error("cannot write the picture " + path + ": " + std::strerror(errno));
}

}  // namespace

PictureFormat picture_format(const std::string& path) {
    const std::string l = lower(path);
    if (ends_with(l, ".png")) return PictureFormat::Png;
    if (ends_with(l, ".svg")) return PictureFormat::Svg;
    throw Error("picture " + path + ": the name must end in .png or .svg");
}

PlotCanvas::PlotCanvas(PictureFormat format, int width, int height, std::string title)
    : format_(format), width_(width), height_(height), title_(printable(title)) {
    if (format_ == PictureFormat::Svg) {
        surface_ = cairo_svg_surface_create_for_stream(append_to_string, &svg_, width, height);
        // Pixels, so the SVG and the PNG of one drawing are the same size.
        if (cairo_surface_status(surface_) == CAIRO_STATUS_SUCCESS)
            cairo_svg_surface_set_document_unit(surface_, CAIRO_SVG_UNIT_PX);
    } else {
        surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    }
    cr_ = cairo_create(surface_);
    if (cairo_status(cr_) != CAIRO_STATUS_SUCCESS) {
        const std::string why = cairo_status_to_string(cairo_status(cr_));
        cairo_destroy(cr_);
        cairo_surface_destroy(surface_);
        throw Error("cannot draw a " + std::to_string(width) + "x" + std::to_string(height) + " picture: " + why);
    }
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
    cairo_set_source_rgb(cr_, 0, 0, 0);
}

PlotCanvas::~PlotCanvas() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
}

double PlotCanvas::text_width(const std::string& words, double size, bool bold) {
    const std::string s = printable(words);
    cairo_select_font_face(cr_, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    return e.x_advance;
}

void PlotCanvas::text(const std::string& role, const std::string& words, double x, double y, double size,
                      TextAnchor anchor, bool bold, bool vertical) {
    const std::string s = printable(words);
    if (s.empty()) return;
    const double w = text_width(s, size, bold);  // also selects the font
    const double shift = anchor == TextAnchor::Start ? 0 : anchor == TextAnchor::Middle ? w / 2 : w;
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    if (vertical) cairo_rotate(cr_, -std::numbers::pi / 2);
    cairo_move_to(cr_, -shift, 0);
    cairo_show_text(cr_, s.c_str());
    cairo_new_path(cr_);
    cairo_restore(cr_);
    texts_.push_back({role, s, x, y, size, anchor, vertical});
}

std::string PlotCanvas::svg_text_layer() const {
    std::string s = "<g id=\"kvmrr-text\" font-family=\"DejaVu Sans, sans-serif\" fill-opacity=\"0\">\n";
    for (const CanvasText& t : texts_) {
        const char* anchor = t.anchor == TextAnchor::Start ? "start" : t.anchor == TextAnchor::Middle ? "middle" : "end";
        s += "<text class=\"" + xml_escape(t.role) + "\" x=\"" + number(t.x) + "\" y=\"" + number(t.y) + "\" font-size=\"" +
             number(t.size) + "\" text-anchor=\"" + anchor + "\"";
        if (t.vertical) s += " transform=\"rotate(-90 " + number(t.x) + " " + number(t.y) + ")\"";
        s += ">" + xml_escape(t.text) + "</text>\n";
    }
    return s + "</g>\n";
}

void PlotCanvas::save(const std::string& path) {
    if (saved_) throw Error("picture " + path + ": the drawing was saved already");
    saved_ = true;
    const cairo_status_t drawn = cairo_status(cr_);
    if (drawn != CAIRO_STATUS_SUCCESS) throw Error("cannot draw the picture " + path + ": " + cairo_status_to_string(drawn));
    std::string bytes;
    if (format_ == PictureFormat::Png) {
        const cairo_status_t st = cairo_surface_write_to_png_stream(surface_, append_to_string, &bytes);
        if (st != CAIRO_STATUS_SUCCESS) throw Error("cannot encode the picture " + path + ": " + cairo_status_to_string(st));
    } else {
        cairo_surface_finish(surface_);
        const cairo_status_t st = cairo_surface_status(surface_);
        if (st != CAIRO_STATUS_SUCCESS) throw Error("cannot encode the picture " + path + ": " + cairo_status_to_string(st));
        // The title first inside the root element, the text layer last (on top).
        const size_t root = svg_.find("<svg");
        const size_t open_end = root == std::string::npos ? root : svg_.find('>', root);
        const size_t close = svg_.rfind("</svg>");
        if (open_end == std::string::npos || close == std::string::npos || close < open_end)
            throw Error("cannot encode the picture " + path + ": cairo wrote no <svg> element");
        bytes = svg_.substr(0, open_end + 1) + "\n<title>" + xml_escape(title_) + "</title>" +
                svg_.substr(open_end + 1, close - open_end - 1) + svg_text_layer() + svg_.substr(close);
    }
    write_file(path, bytes);
}

void release_drawing_caches() {
    cairo_debug_reset_static_data();
    FcFini();
}

std::vector<std::string> svg_text_lines(const std::string& svg) {
    static const std::regex text_element(R"re(<text class="([^"]*)"[^>]*>([^<]*)</text>)re");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text_element); it != std::sregex_iterator(); ++it)
        out.push_back(xml_unescape((*it)[1].str()) + ": " + xml_unescape((*it)[2].str()));
    return out;
}

size_t svg_glyph_groups(const std::string& svg) {
    // Cairo writes each cairo_show_text as a <g> holding one <use> per
    // glyph, its href naming a glyph symbol ("#glyph0-1").
    size_t n = 0;
    for (size_t at = svg.find("<g"); at != std::string::npos; at = svg.find("<g", at + 2)) {
        const size_t end = svg.find("</g>", at);
        const size_t inner = svg.find("<g", at + 2);
        const size_t use = svg.find("href=\"#glyph", at);
        if (end != std::string::npos && use != std::string::npos && use < end && (inner == std::string::npos || use < inner)) ++n;
    }
    return n;
}

}  // namespace kvmrr
