"""Tables that read well in the book and in a terminal.

``cb.table(rows, headers)`` returns a :class:`Table`: a notebook (and the rendered book) shows
it as an HTML table, with numbers right-aligned and a gutter between columns; ``print`` and a
terminal show the same table as aligned plain text. Integers get thousands separators, tuples
(shapes) stay on one line.

>>> t = table([("conv1", (6, 28, 28), 156), ("fc", (10,), 850)],
...           ["layer", "output shape", "parameters"], footer=("total", "", 1006))
>>> print(t)
layer  output shape  parameters
-----  ------------  ----------
conv1   (6, 28, 28)         156
fc            (10,)         850
-----  ------------  ----------
total                     1,006
"""
from __future__ import annotations

import html
import re
import numbers

import numpy as np

__all__ = ["Table", "table"]

_GUTTER = "  "


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (bool, np.bool_))


def _is_shape(v) -> bool:
    return isinstance(v, tuple) and all(isinstance(d, (int, np.integer)) for d in v)


class Table:
    """A table of `rows` under the headers `columns`, with an optional `footer` row (totals).

    `align`: one letter per column, ``"l"`` or ``"r"`` (e.g. ``"llrr"``); by default a column
    whose values are all numbers or shapes is right-aligned, any other left-aligned.
    `formats`: ``{column: spec or callable}`` for a column's values, e.g. ``{"year": "d"}``
    (no thousands separator) or ``{"error": ".1e"}``; otherwise integers print as ``61,706``
    and everything else with ``str``. ``.rows`` keeps the values (NamedTuples stay
    NamedTuples) for asserts.
    """

    def __init__(self, columns, rows, footer=None, align=None, formats=None):
        self.columns = [str(c) for c in columns]
        self.rows = list(rows)
        self.footer = footer
        n = len(self.columns)
        for i, r in enumerate(self.rows + ([footer] if footer is not None else [])):
            if len(r) != n:
                what = "footer" if footer is not None and i == len(self.rows) else f"row {i}"
                raise ValueError(f"Table: {what} has {len(r)} values for {n} columns "
                                 f"{self.columns}; give one value per column ('' for none).")
        self.formats = dict(formats or {})
        unknown = sorted(set(self.formats) - set(self.columns))
        if unknown:
            raise ValueError(f"Table: formats names {unknown}, which are not columns; the "
                             f"columns are {self.columns}.")
        if align is None:
            align = "".join(self._default_align(j) for j in range(n))
        if len(align) != n or set(align) - set("lr"):
            raise ValueError(f"Table: align={align!r} needs one 'l' or 'r' per column "
                             f"({n} columns), e.g. align={'l' * (n - 1) + 'r'!r}.")
        self.align = align

    def _default_align(self, j) -> str:
        values = [r[j] for r in self.rows]
        values = [v for v in values if not (isinstance(v, str) and v == "")]
        return "r" if values and all(_is_number(v) or _is_shape(v) for v in values) else "l"

    def _fmt(self, v, j=None) -> str:
        spec = self.formats.get(self.columns[j]) if j is not None else None
        if isinstance(v, str):
            return v
        if spec is not None:
            return spec(v) if callable(spec) else format(v, spec)
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return f"{int(v):,}"
        return str(v)

    def _cells(self, row) -> list[str]:
        return [self._fmt(v, j) for j, v in enumerate(row)]

    def __str__(self):
        body = [self._cells(r) for r in self.rows]
        foot = [self._cells(self.footer)] if self.footer is not None else []
        widths = [max(len(c) for c in col) for col in zip(self.columns, *body, *foot)]

        def line(cells):
            return _GUTTER.join(c.rjust(w) if a == "r" else c.ljust(w)
                                for c, w, a in zip(cells, widths, self.align)).rstrip()

        rule = _GUTTER.join("-" * w for w in widths)
        out = [line(self.columns), rule] + [line(c) for c in body]
        if foot:
            out += [rule, line(foot[0])]
        return "\n".join(out)

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        def cells(row, tag, bold=False):
            out = []
            for j, v in enumerate(row):
                text = html.escape(v if tag == "th" else self._fmt(v, j))
                # numbers and shapes never break inside; text and headers may wrap at
                # spaces, and names also after "_" and "." (features.10, batch_norm1d)
                keep = tag == "td" and (self.align[j] == "r" or _is_shape(v))
                if not keep:
                    text = _BREAKS.sub(r"\g<0><wbr>", text)
                if bold and text:
                    text = f"<b>{text}</b>"
                style = ";".join(s for s in ("text-align:right" if self.align[j] == "r" else "",
                                             "white-space:nowrap" if keep else "") if s)
                out.append(f'<{tag} style="{style}">{text}</{tag}>' if style
                           else f"<{tag}>{text}</{tag}>")
            return "".join(out)

        head = f"<thead><tr>{cells(self.columns, 'th')}</tr></thead>"
        body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in self.rows)
        if self.footer is not None:
            body += f'<tr class="cnnbook-table-total">{cells(self.footer, "td", True)}</tr>'
        return f'<div class="cnnbook-table"><table>{head}<tbody>{body}</tbody></table></div>'


# where a name may break: after "_" (batch_norm1d), after "." that follows a letter
# (features.10), never inside a number (2.0e-16)
_BREAKS = re.compile(r"_(?=\w)|(?<=[A-Za-z])\.(?=\w)")


def table(rows, headers, align=None, footer=None, formats=None) -> Table:
    """The table of `rows` (sequences, one value per header) under `headers`: HTML in a
    notebook and the book, aligned plain text in a terminal and with ``print``. See
    :class:`Table` for `align`, `footer` and `formats`."""
    return Table(headers, rows, footer=footer, align=align, formats=formats)
