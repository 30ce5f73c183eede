"""What every notebook calls first: deterministic output, readable figures, visible warnings.

:func:`setup_notebook` fixes pandas' display options and matplotlib's figure size and metadata,
selects the figure fonts and label language, makes the study's community registry the one every
figure names and colours communities from, and shows evalkit's warnings as notebook output (not
stderr, whose presence would depend on library versions). It returns the seed of the study.
"""
from __future__ import annotations

import warnings
from dataclasses import fields

import pandas as pd

from .._literals import Language, check_choice
from ..errors import EvalkitError, EvalkitWarning, FontFallbackWarning
from ..spec.study import Study
from . import style

__all__ = ["setup_notebook"]


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as ``Category: message`` — no file paths or line numbers, which differ by machine."""
    return f"{category.__name__}: {message}\n"


class _WarningText:
    """An evalkit warning as notebook output: plain text, highlighted in HTML like stderr was."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        import html

        return ('<pre class="evalkit-warning" style="background:#fff8e6;padding:0.3em 0.5em;'
                f'white-space:pre-wrap">{html.escape(self.text)}</pre>')


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook), where output can be displayed."""
    try:
        from IPython import get_ipython
    except ImportError:  # IPython not installed: not a notebook
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` of a notebook: evalkit's warnings are output, the rest stderr.

    Warnings readers should see (:class:`~evalkit.errors.EvalkitWarning` and subclasses) become
    evalkit text: displayed in a notebook (``text/plain`` ``Category: message`` and highlighted
    HTML), printed to stdout elsewhere, so no stored notebook output is a stderr stream. Other
    libraries' warnings depend on their versions and go to stderr as ``Category: message``.
    """
    import sys

    text = _format_warning(message, category, filename, lineno, line)
    if not issubclass(category, EvalkitWarning):
        (file or sys.stderr).write(text)
    elif _in_kernel():
        from IPython.display import display

        display(_WarningText(text.rstrip("\n")))
    else:
        sys.stdout.write(text)


def _setup_figures() -> None:
    """Inline PNG figures without software metadata in a notebook; fixed size and resolution."""
    import matplotlib

    if _in_kernel():  # always the inline backend (also under MPLBACKEND=Agg, as in CI)
        from IPython import get_ipython
        import matplotlib_inline.backend_inline as inline

        get_ipython().run_line_magic("matplotlib", "inline")
        inline.InlineBackend.instance().print_figure_kwargs.update(
            {"bbox_inches": "tight", "metadata": {"Software": None}})
    rc = matplotlib.rcParams
    rc["figure.figsize"] = (8.0, 4.5)
    rc["figure.dpi"] = 100
    rc["savefig.dpi"] = 100
    rc["svg.hashsalt"] = "evalkit"  # fixed SVG element ids
    rc["pdf.compression"] = 6
    rc["text.parse_math"] = False  # a "$" in a name or label from the data is drawn, never parsed as mathtext




def _default_seed() -> int:
    return int(next(f.default for f in fields(Study) if f.name == "seed"))


def setup_notebook(study: Study | None = None, *, lang: Language | None = None, seed: int | None = None) -> int:
    """Make a notebook's output deterministic and its figures readable; return the seed.

    Parameters
    ----------
    study
        The :class:`~evalkit.Study` the notebook analyses: its registry becomes the one every
        figure takes community names and colours from (:func:`evalkit.publish.style.set_registry`),
        its language the label language, its ``seed`` is returned.
    lang
        Label language, ``"zh"`` or ``"en"`` (default ``study.language``, else ``"zh"``).
    seed
        Overrides the seed (default ``study.seed``, else :attr:`Study.seed`'s default).

    Sets fixed pandas display options (precision 3, at most 60 rows and 30 columns, width 120),
    fixes matplotlib's figure size and resolution, strips date and software metadata from saved
    figures, selects the figure fonts (:func:`evalkit.publish.style.use_cjk_font`: DejaVu Sans for
    Latin text, a CJK font for Chinese) and sets the label language.

    Warnings: evalkit's own (:class:`~evalkit.errors.EvalkitWarning`), which readers should see,
    are shown as notebook output ``Category: message`` (displayed text, not stderr); other
    libraries' warnings go to stderr as ``Category: message`` (no file paths). So a stored
    notebook holds no stderr stream, whose presence would depend on library versions or fonts.

    Prints one line saying how figure labels are written: ``figure labels: Chinese (font: ...)``,
    or, when no CJK font is installed, ``figure labels: pinyin.`` with the
    :class:`~evalkit.errors.FontFallbackWarning` text. It is the only output that depends on the
    machine's fonts; nbval's sanitize file (``notebooks/sanitize.cfg``) masks it.

    Returns
    -------
    int
        The seed the notebook passes to every random step.
    """
    if isinstance(study, str):  # 0.1: setup_notebook("zh"), the language first
        warnings.warn("setup_notebook(lang) positional is deprecated: use setup_notebook(study, lang=...) "
                      "or setup_notebook(lang=...).", FutureWarning, stacklevel=2)
        study, lang = None, lang or study
    if study is not None and not isinstance(study, Study):
        raise EvalkitError(f"setup_notebook: study must be an evalkit.Study, got {type(study).__name__}.")
    lang = check_choice(lang or (study.language if study is not None else "zh"), Language, "lang")
    for option, value in (("precision", 3), ("max_rows", 60), ("min_rows", 20), ("max_columns", 30),
                          ("width", 120), ("max_colwidth", 80)):
        pd.set_option(f"display.{option}", value)
    warnings.formatwarning = _format_warning
    warnings.showwarning = _show_warning
    _setup_figures()
    if study is not None:
        style.set_study(study)  # figures take community names and codebook labels from it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FontFallbackWarning)
        font = style.use_cjk_font()
    style.set_language(lang)
    if font is not None:
        print(f"figure labels: {'Chinese' if lang == 'zh' else 'English'} (font: {font})")
    else:
        msg = "; ".join(str(w.message) for w in caught if issubclass(w.category, FontFallbackWarning))
        print(f"figure labels: pinyin. FontFallbackWarning: {msg}".rstrip(": "))
    if seed is not None:
        return int(seed)
    return int(study.seed) if study is not None else _default_seed()
