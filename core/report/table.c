/* table.c — render the results table with aligned columns. */
#include "table.h"

#include <string.h>

enum { TABLE_COLS = 10 };

static const char *const table_header[TABLE_COLS] = {
    "Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr", NULL};
/* 1 = right-aligned (numbers), 0 = left-aligned */
static const int table_right[TABLE_COLS] = {0, 1, 0, 1, 0, 0, 1, 0, 1, 0};

static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

static const char *row_cell(const table_row *r, int c)
{
    switch (c) {
    case 0: return r->task;
    case 1: return r->version;
    case 2: return r->filter;
    case 3: return r->n_shot;
    case 4: return r->metric;
    case 5: return r->arrow;
    case 6: return r->value;
    case 7: return "±";
    case 8: return r->stderr_;
    }
    return "";
}

static void put_cell(buf *out, const char *s, size_t width, int right)
{
    size_t w = display_width(s);
    size_t pad = width > w ? width - w : 0;
    if (right) for (size_t i = 0; i < pad; i++) buf_putc(out, ' ');
    buf_puts(out, s);
    if (!right) for (size_t i = 0; i < pad; i++) buf_putc(out, ' ');
    buf_putc(out, '|');
}

void table_render(const table_row *rows, size_t n, const char *first_header, buf *out)
{
    const int ncols = 9;
    const char *header[TABLE_COLS];
    memcpy(header, table_header, sizeof header);
    if (first_header) header[0] = first_header;
    size_t width[TABLE_COLS];
    for (int c = 0; c < ncols; c++) {
        width[c] = display_width(header[c]);
        if (width[c] < 3) width[c] = 3;
        for (size_t i = 0; i < n; i++) {
            const char *s = row_cell(&rows[i], c);
            size_t w = display_width(s ? s : "");
            if (w > width[c]) width[c] = w;
        }
    }
    buf_putc(out, '|');
    for (int c = 0; c < ncols; c++) put_cell(out, header[c], width[c], 0);
    buf_puts(out, "\n|");
    for (int c = 0; c < ncols; c++) {
        for (size_t k = 0; k + (table_right[c] ? 1 : 0) < width[c]; k++) buf_putc(out, '-');
        buf_puts(out, table_right[c] ? ":|" : "|");
    }
    buf_putc(out, '\n');
    for (size_t i = 0; i < n; i++) {
        buf_putc(out, '|');
        for (int c = 0; c < ncols; c++) {
            const char *s = row_cell(&rows[i], c);
            put_cell(out, s ? s : "", width[c], table_right[c]);
        }
        buf_putc(out, '\n');
    }
}
