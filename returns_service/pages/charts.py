"""The dashboard's charts: SVG drawn on the server by pygal, shown as images (a `data:` URL, so
the page's Content-Security-Policy stays as strict as everywhere: the image's own styles and the
script pygal adds never run in the page). Every chart's figures are also in a table beside it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

import pygal
from pygal.style import Style

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif'


def _style(accent: str, colours: Sequence[str] = ()) -> Style:
    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1f2933",
        foreground_strong="#1f2933",
        foreground_subtle="#d5dbe1",
        colors=(accent, *colours, "#4a5b6c", "#b35c00", "#6b4fa0"),
        font_family=FONT,
        title_font_family=FONT,
        label_font_family=FONT,
        major_label_font_family=FONT,
        value_font_family=FONT,
        legend_font_family=FONT,
        title_font_size=18,
        label_font_size=14,
        major_label_font_size=14,
        value_font_size=14,
        legend_font_size=13,
    )


def _data_url(chart: pygal.graph.graph.Graph) -> str:
    svg = str(chart.render(is_unicode=True)).encode()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def bars(title: str, labels: Sequence[str], values: Sequence[int], accent: str) -> str:
    """A horizontal bar for each label, its figure written beside it."""
    chart = pygal.HorizontalBar(
        js=[],
        title=title,
        show_legend=False,
        width=520,
        height=max(160, 70 + 34 * len(labels)),
        style=_style(accent),
        print_values=True,
        print_values_position="top",
        disable_xml_declaration=True,
        no_data_text="–",
        margin=12,
        truncate_label=-1,
    )
    # Drawn bottom up: reversed, the first label is at the top, as in the table beside it.
    chart.x_labels = list(reversed(labels))
    chart.add(title, list(reversed(values)))
    chart.y_labels = whole_ticks(max(values, default=0))
    return _data_url(chart)


def whole_ticks(highest: int) -> list[int]:
    """At most about eight ticks, on whole numbers (there is no half a return)."""
    step = max(1, -(-highest // 8))
    return list(range(0, max(highest, 1) + step, step))


def per_day(
    title: str,
    days: Sequence[str],
    series: dict[str, Sequence[int]],
    accent: str,
    formatter: Callable[[int, str], str],
) -> str:
    """A bar a day for each series (a currency), with its figures on the axis in its own words."""
    chart = pygal.Bar(
        js=[],
        title=title,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        width=520,
        height=320,
        style=_style(accent),
        x_label_rotation=0,
        show_minor_x_labels=False,
        truncate_label=-1,
        disable_xml_declaration=True,
        no_data_text="–",
        margin=12,
    )
    chart.x_labels = list(days)
    # At most five dates on the axis: more run into each other at a phone's or a card's width.
    step = max(1, -(-len(days) // 5))
    chart.x_labels_major = list(days)[::step]
    for name, values in series.items():
        chart.add(name, list(values), formatter=lambda value, name=name: formatter(value, name))
    first = next(iter(series), None)
    if first is not None:  # the axis in the first series' words (a currency's amounts)
        chart.value_formatter = lambda value: formatter(int(value or 0), first)
    return _data_url(chart)
