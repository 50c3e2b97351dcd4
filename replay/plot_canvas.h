// PlotCanvas: a cairo drawing that becomes a PNG or an SVG file, whose text
// stays readable by programs as well as by people.
//
// Shapes are drawn straight on cairo (cr()); text goes through text(),
// which draws it with cairo's toy font API ("sans-serif", resolved by
// fontconfig: DejaVu Sans on Debian) and also keeps it, with a role, in
// texts(). Cairo's SVG surface writes text as glyph outlines (<use> of
// <symbol>s in <defs>), never as <text>, so nothing in its SVG says what
// the picture's words are. save() therefore appends, on top of cairo's
// output, a layer of real <text> elements with fill-opacity 0, one per
// text() call, each with class="ROLE", at the same place, plus the
// picture's <title>: the words become searchable and selectable in a
// browser and readable by screen readers and tests, while what is seen
// is still cairo's rendering (the same glyphs as the PNG). A test that
// reads the layer checks the words; it also counts cairo's glyph groups
// to check that each of them was drawn too.
#pragma once

#include <memory>
#include <string>
#include <vector>

// cairo.h's own declarations, so that users of this header need not find cairo's headers.
typedef struct _cairo cairo_t;
typedef struct _cairo_surface cairo_surface_t;

namespace kvmrr {

enum class PictureFormat { Png, Svg };

// PNG for a name ending in .png, SVG for .svg (any case); throws
// kvmrr::Error naming the file for anything else.
PictureFormat picture_format(const std::string& path);

enum class TextAnchor { Start, Middle, End };

struct CanvasText {
    std::string role;  // what the words are in the picture: "title", "axis-title", "tick", ...
    std::string text;
    double x = 0, y = 0;  // the anchor point, on the baseline
    double size = 0;
    TextAnchor anchor = TextAnchor::Start;
    bool vertical = false;  // turned a quarter left (reads upwards)
};

class PlotCanvas {
public:
    // `title` becomes the SVG's <title>. Throws kvmrr::Error when cairo
    // cannot make the surface.
    PlotCanvas(PictureFormat format, int width, int height, std::string title);
    ~PlotCanvas();
    PlotCanvas(const PlotCanvas&) = delete;
    PlotCanvas& operator=(const PlotCanvas&) = delete;

    cairo_t* cr() { return cr_; }
    int width() const { return width_; }
    int height() const { return height_; }

    // Draws `s` in the current source colour and records it.
    void text(const std::string& role, const std::string& s, double x, double y, double size,
              TextAnchor anchor = TextAnchor::Start, bool bold = false, bool vertical = false);
    double text_width(const std::string& s, double size, bool bold = false);
    const std::vector<CanvasText>& texts() const { return texts_; }

    // Finishes the drawing and writes the file; the canvas cannot be drawn
    // on after. Throws kvmrr::Error naming `path` when cairo failed or the
    // file cannot be written.
    void save(const std::string& path);

private:
    std::string svg_text_layer() const;

    PictureFormat format_;
    int width_, height_;
    std::string title_;
    std::string svg_;  // what cairo's SVG surface wrote so far
    cairo_surface_t* surface_ = nullptr;
    cairo_t* cr_ = nullptr;
    bool saved_ = false;
    std::vector<CanvasText> texts_;
};

// Cairo and fontconfig keep process-wide font caches after drawing text,
// which a leak checker reports at exit (LeakSanitizer fails check.sh's
// sanitizer build on them). This empties them (cairo_debug_reset_static_data
// and FcFini); they fill again on the next drawing. Call it only when no
// PlotCanvas is alive and no other thread is drawing: write_dirty_plot
// calls it when it is done.
void release_drawing_caches();

// The text elements of an SVG that save() wrote, as "ROLE: TEXT" lines in
// document order (entities decoded), and the number of cairo glyph groups
// (<g> elements that hold <use> of a glyph). For tests and tools that
// check a picture's words.
std::vector<std::string> svg_text_lines(const std::string& svg);
size_t svg_glyph_groups(const std::string& svg);

}  // namespace kvmrr
