"""Survey-platform exports (one module per platform; this module gathers them).

* :func:`read_wjx`, :func:`wjx_option_map`, :func:`to_wjx_excel` -- :mod:`evalkit.io.wjx` (问卷星 / 腾讯问卷 Excel);
* :func:`read_kobo` -- :mod:`evalkit.io.kobo` (KoboToolbox / ODK);
* :func:`read_kobo_repeat`, :func:`repeat_study` -- :mod:`evalkit.io.kobo_repeat` (Kobo/ODK repeat groups);
* :func:`read_spss` -- :mod:`evalkit.io.spss` (SPSS ``.sav``);
* what they share (header matching, option text to codes) -- :mod:`evalkit.io.platform`.
"""
from __future__ import annotations

from .kobo import read_kobo
from .kobo_repeat import read_kobo_repeat, repeat_study
from .platform import SKIPPED
from .spss import read_spss
from .wjx import read_wjx, to_wjx_excel, wjx_option_map

__all__ = ["read_wjx", "read_kobo", "read_kobo_repeat", "repeat_study", "read_spss", "to_wjx_excel", "wjx_option_map", "SKIPPED"]
