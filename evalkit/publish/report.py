"""The technical appendix: execute the notebooks and write one self-contained HTML file.

The report a bureau reads is :func:`evalkit.publish.bureau.build_bureau_report` (templates, no
notebook execution); this notebook-based report is its technical appendix (data checks, weighting,
methods, robustness, the "why the numbers differ" table of the evaluation summary, provenance).
Warnings the notebooks printed become one paragraph of prose (:func:`evalkit.publish.render.warnings_prose`).

``python -m evalkit report --appendix`` calls :func:`build_report`, which executes the numbered notebooks
(:func:`evalkit.publish.render.notebooks_dir`; in memory: the committed notebooks are never
modified) on the data folder it is given, joins them into one document without code cells
(:func:`evalkit.publish.render.render_html`: figures embedded, a table of contents) with a
data-and-methods appendix (:mod:`evalkit.publish.provenance`: checksums, versions, the seed), and
writes ``<out_dir>/evalkit_report.html``. With ``community="mingyue"`` it also renders the
community profile notebook for that community alone (``community_mingyue.html``), for handing to
the community's social-work organisation.

Nothing here knows the shipped example: the data folder, the study and the report's title come
from the caller (the command line passes the shipped Dongying example).

Moved in 0.2 (the old names here still work for one release, with a :class:`FutureWarning`):
``setup_notebook`` → :mod:`evalkit.publish.notebook`; ``problems_table`` →
:mod:`evalkit.publish.disclosure`; ``community_profile`` → :mod:`evalkit.publish.profile`;
``execute_notebook``, ``inject_parameters``, ``render_html``, ``notebooks_dir``, ``NOTEBOOKS``,
``REPORT_NOTEBOOKS`` → :mod:`evalkit.publish.render`; ``data_checksums``, ``package_versions`` →
:mod:`evalkit.publish.provenance`; ``verdict``, ``certainty``, ``target_estimates``,
``target_domain``, ``target_name``, ``targeted_indicators``, ``leave_one_out_summary``,
``sample_sizes`` → :mod:`evalkit.evaluation.targets`.
"""
from __future__ import annotations

import importlib
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

from ..errors import EvalkitError
from ..spec.study import Study
from . import disclosure, provenance, render
from .appendix import reconciliation_markdown
from .style import label

__all__ = ["build_report"]

_GENERIC_TITLE = "项目评估报告 · Programme evaluation report"


def _data_folder(data_dir) -> Path:
    if data_dir is None:
        raise EvalkitError(
            "build_report needs the data folder the notebooks read and the report cites: "
            "build_report(data_dir=...) (the shipped example: evalkit.datasets.data_dir()).")
    base = Path(data_dir)
    if not base.is_dir():
        raise EvalkitError(f"build_report: data folder {str(base)!r} does not exist.")
    return base.resolve()


def _unchanged(base: Path, cited) -> None:
    """Refuse to write a report whose data changed while its notebooks ran (they cite ``cited``)."""
    now = provenance.data_checksums(base)
    if not now[["file", "sha256"]].reset_index(drop=True).equals(cited[["file", "sha256"]].reset_index(drop=True)):
        changed = sorted(set(map(tuple, now[["file", "sha256"]].values)) ^ set(map(tuple, cited[["file", "sha256"]].values)))
        raise EvalkitError(
            f"build_report: the data in {str(base)!r} changed while the notebooks ran ("
            + ", ".join(sorted({f for f, _ in changed})) + "); the report would cite checksums of other "
            "data than it was computed from. Run it again on a folder nothing else writes to.")


def _study_of(study: Study | None, base: Path) -> Study:
    """The study given, else the one of the data folder (``codebook.yaml``, ``communities.csv``)."""
    if study is not None:
        return study
    codebook, registry = base / "codebook.yaml", base / "communities.csv"
    if not codebook.is_file():
        raise EvalkitError(f"build_report: {str(base)!r} has no codebook.yaml; pass study=Study.from_files(...).")
    return Study.from_files(codebook, registry if registry.is_file() else None)


def _check_community(community: str, study: Study) -> None:
    reg = study.require_registry("build_report(community=...)")
    programme = list(reg.loc[reg["role"] == "programme", "community_id"])
    if community not in programme:
        raise EvalkitError(
            f"community={community!r} is not a programme community of the registry; use one of: "
            + ", ".join(programme) + ".")


def _write(path: Path, html: str, say, min_n: int) -> Path:
    disclosure.assert_publishable(html, source=path.name, min_n=min_n)
    path.write_text(html, encoding="utf-8")
    say(f"wrote {path} ({len(html) // 1024} KB)")
    return path


def build_report(out_dir: str | Path = "reports", community: str | None = None,
                 progress: Callable[[str], None] | None = print, *, data_dir: str | Path | None = None,
                 study: Study | None = None, notebooks: Sequence[str] | None = None,
                 title: str = _GENERIC_TITLE, subtitle: str = "", data_note: str = "",
                 summary=None, min_n: int | None = None) -> list[Path]:
    """Execute the notebooks and write the HTML evaluation report; return the written paths.

    Parameters
    ----------
    out_dir
        Output folder (created if needed).
    community
        Also render the community profile notebook for this programme community alone, as
        ``community_<id>.html``.
    progress
        Called with one line of text per step (``print`` by default; ``None`` for silence).
    data_dir
        The data folder (required): the notebooks read it (``$EVALKIT_DATA`` of their kernels),
        the appendix cites its checksums, and its ``MANIFEST.sha256``, if any, is verified first
        (a mismatch raises :class:`~evalkit.io.manifest.ManifestError`); the checksums are taken
        again after the notebooks ran and the report is refused if they changed.
    study
        Registry (the community check, page titles) and seed (cited in the appendix); default the
        study of ``data_dir`` (its ``codebook.yaml`` and ``communities.csv``).
    notebooks
        Names of the notebooks to include (default :data:`~evalkit.publish.render.REPORT_NOTEBOOKS`,
        those present).
    title, subtitle, data_note
        The report's title and subtitle, and a sentence about the data opening the appendix
        (e.g. that the answers are synthetic).
    summary
        The evaluation summary of the same data (:func:`evalkit.evaluation.summary.summarise`):
        its reconciliation becomes the appendix's "why the numbers differ" table
        (:func:`evalkit.publish.appendix.reconciliation_markdown`).
    min_n
        The disclosure threshold (default :data:`evalkit.publish.disclosure.MIN_N`): the notebooks'
        kernels get it as ``$EVALKIT_MIN_N`` (their data functions gate the survey with it,
        :func:`evalkit.publish.disclosure.gate_published`), and every written page is checked with
        :func:`evalkit.publish.disclosure.assert_publishable` at that threshold.

    Returns
    -------
    list of Path
        ``<out_dir>/evalkit_report.html`` and, with ``community``, ``<out_dir>/community_<id>.html``.
    """
    from ..io import manifest

    say = progress or (lambda _msg: None)
    base = _data_folder(data_dir)
    study = _study_of(study, base)
    nb_dir = render.notebooks_dir()
    names = list(notebooks or render.REPORT_NOTEBOOKS)
    present = [n for n in names if (nb_dir / f"{n}.ipynb").is_file()]
    if not present:
        raise EvalkitError(f"No notebooks found in {nb_dir} (looked for {names}).")
    if community is not None:
        _check_community(community, study)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (base / manifest.MANIFEST).is_file():  # the data must match the manifest the report cites
        say(manifest.verify_data(base))
    sums, versions = provenance.data_checksums(base), provenance.package_versions()
    min_n = disclosure.MIN_N if min_n is None else int(min_n)
    # the notebooks read exactly the folder verified and cited, gated at the report's threshold
    env = {"EVALKIT_DATA": str(base), disclosure.MIN_N_ENV: str(min_n)}

    why = "" if summary is None else reconciliation_markdown(summary, study) + "\n\n"

    def appendix(seconds):
        return why + provenance.appendix_markdown(sums, versions, study.seed, seconds, data_dir=base,
                                                  data_note=data_note)

    executed, seconds = [], {}
    with tempfile.TemporaryDirectory(prefix="evalkit-report-") as tmp:
        for k, name in enumerate(present, 1):
            say(f"[{k}/{len(present)}] running notebooks/{name}.ipynb ...")
            t0 = time.perf_counter()
            executed.append(render.execute_notebook(nb_dir / f"{name}.ipynb", cwd=nb_dir, env=env,
                                                    save_to=Path(tmp) / f"{name}.ipynb"))
            seconds[name] = time.perf_counter() - t0
            say(f"      done in {seconds[name]:.1f} s")
        _unchanged(base, sums)
        say("writing the HTML report ...")
        html = render.render_html(executed, title=title, subtitle=subtitle, appendix=appendix(seconds))
        written = [_write(out / "evalkit_report.html", html, say, min_n)]
        if community is not None:
            say(f"running notebooks/{render.PROFILE_NOTEBOOK}.ipynb for community={community!r} ...")
            reg = study.registry
            html = render.community_page(
                community, notebook_dir=nb_dir, env=env,
                title=(f"{label(community, 'zh', registry=reg)} 项目评估 · "
                       f"{label(community, 'en', registry=reg)} programme evaluation"),
                subtitle=title, appendix=appendix({render.PROFILE_NOTEBOOK: 0.0}),
                save_to=Path(tmp) / f"{render.PROFILE_NOTEBOOK}_{community}.ipynb")
            _unchanged(base, sums)
            written.append(_write(out / f"community_{community}.html", html, say, min_n))
    return written


# --------------------------------------------------------------------------------------------
# 0.1 names of this module, forwarded for one release
# --------------------------------------------------------------------------------------------
_MOVED = {
    "setup_notebook": "evalkit.publish.notebook",
    "problems_table": "evalkit.publish.disclosure",
    "community_profile": "evalkit.publish.profile",
    **dict.fromkeys(("NOTEBOOKS", "REPORT_NOTEBOOKS", "PROFILE_NOTEBOOK", "execute_notebook",
                     "inject_parameters", "notebooks_dir", "render_html"), "evalkit.publish.render"),
    **dict.fromkeys(("data_checksums", "package_versions"), "evalkit.publish.provenance"),
    **dict.fromkeys(("CERTAINTY", "certainty", "verdict", "target_estimates", "target_domain", "target_name",
                     "targeted_indicators", "leave_one_out_summary", "sample_sizes"),
                    "evalkit.evaluation.targets"),
}


def __getattr__(name: str):
    if name in _MOVED:
        new = _MOVED[name]
        warnings.warn(f"evalkit.publish.report.{name} moved to {new}.{name} in evalkit 0.2; the old "
                      "name goes in 0.3.", FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
