"""cb.table / cnnbook.display.Table: an HTML table in a notebook, aligned text in a terminal."""
from __future__ import annotations

import re

import numpy as np
import pytest

import cnnbook as cb
from cnnbook.display import Table, table


def _cells(html: str, tag: str = "td") -> list[tuple[str, str]]:
    """(style, text) of every `tag` cell."""
    return [(m.group(1) or "", m.group(2))
            for m in re.finditer(rf'<{tag}(?: style="([^"]*)")?>(.*?)</{tag}>', html)]


def test_table_is_reachable_as_cb_table():
    assert cb.table is table
    assert cb.arithmetic.Table is Table


def test_text_right_aligns_numbers_and_keeps_shapes_whole():
    t = table([("conv1", (1, 6, 28, 28), 156), ("fc3", (1, 10), 850)],
              ["layer", "output shape", "parameters"], footer=("total", "", 1006))
    lines = str(t).splitlines()
    assert lines[0] == "layer    output shape  parameters"
    assert lines[2] == "conv1  (1, 6, 28, 28)         156"
    assert lines[3] == "fc3           (1, 10)         850"
    assert lines[-1] == "total                       1,006"
    assert repr(t) == str(t)
    # every line ends in the same column: numbers line up on the right
    assert len({len(line) for line in lines}) == 1


def test_html_is_a_real_table_with_aligned_unbroken_numbers():
    t = table([("features.10", "Conv2d", (64, 55, 55), 23_296, 70_276_800)],
              ["layer", "type", "output shape", "parameters", "MACs"])
    html = t._repr_html_()
    assert html.startswith('<div class="cnnbook-table"><table>') and "<thead>" in html
    cells = _cells(html)
    assert [text for _, text in cells] == ["features.<wbr>10", "Conv2d", "(64, 55, 55)",
                                           "23,296", "70,276,800"]
    # names may break after "_" or "."; numbers never carry a break opportunity
    assert "<wbr>" not in "".join(text for _, text in cells[2:])
    many = table([("batch_norm1d", "dx 2.0e-16")], ["layer", "gradients"])
    assert "batch_<wbr>norm1d" in many._repr_html_() and "dx 2.0e-16" in many._repr_html_()
    for style, text in cells[2:]:
        assert "text-align:right" in style and "white-space:nowrap" in style, text
    assert "text-align:right" not in cells[0][0] and "text-align:right" not in cells[1][0]


def test_formats_align_and_escaping():
    t = table([("LeNet-5", 1998, 0.000416), ("<AlexNet>", 2012, 0.714)],
              ["network", "year", "G"], formats={"year": "d", "G": ".4f"}, align="lrr")
    text = str(t)
    assert "1998" in text and "1,998" not in text and "0.0004" in text
    html = t._repr_html_()
    assert "&lt;AlexNet&gt;" in html and "<AlexNet>" not in html
    assert "1998" in html and "0.7140" in html


def test_numpy_numbers_count_as_numbers():
    t = table([("a", np.int64(12345), np.float32(0.5))], ["name", "n", "x"])
    assert t.align == "lrr"
    assert "12,345" in str(t)


def test_a_column_with_text_is_left_aligned():
    t = table([("a", 1), ("b", "—")], ["name", "value"])
    assert t.align == "ll"


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match=r"Table: row 1 has 1 values for 2 columns"):
        table([("a", 1), ("b",)], ["name", "value"])
    with pytest.raises(ValueError, match=r"Table: footer has 3 values for 2 columns"):
        table([("a", 1)], ["name", "value"], footer=("total", 1, 2))
    with pytest.raises(ValueError, match=r"align='lx' needs one 'l' or 'r' per column"):
        table([("a", 1)], ["name", "value"], align="lx")
    with pytest.raises(ValueError, match=r"formats names \['size'\], which are not columns"):
        table([("a", 1)], ["name", "value"], formats={"size": "d"})


def test_summary_displays_as_a_table():
    s = cb.arithmetic.summary(cb.nn.LeNet5(), (1, 1, 28, 28))
    html = s._repr_html_()
    assert "<table>" in html and "61,706" in html and 'class="cnnbook-table-total"' in html
    assert s.rows[-1].output_shape == (1, 10)
    # the text form has no row wider than the widest cell of each column needs
    lines = str(s).splitlines()
    assert max(map(len, lines)) < 80, max(map(len, lines))
