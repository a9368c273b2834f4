"""mkdocs hook: render the notebooks in ``<repo>/notebooks`` (outside ``docs_dir``).

mkdocs only reads ``docs_dir``, so this hook adds every ``notebooks/*.ipynb`` to the build
(mkdocs-jupyter renders them; they are not executed) and appends an "Examples" section to
the nav listing whichever of them exist: the known notebooks first, in reading order,
then any others alphabetically.  A missing notebook is simply left out.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ORDER = [
    "variational_api_quickstart",
    "bayesian_regression_meanfield_vs_fullrank",
    "autobatched_logistic_regression",
    "poisson_gamma_digits",
    "bayesian_neural_network",
]


def _notebooks(config) -> list[Path]:
    root = Path(config["config_file_path"]).resolve().parent / "notebooks"
    found = sorted(root.glob("*.ipynb")) if root.is_dir() else []
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))


def on_config(config):
    pages = [f"notebooks/{p.name}" for p in _notebooks(config)]
    if pages and config["nav"] is not None:
        config["nav"].append({"Examples": pages})
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the .ipynb files
def on_files(files, config):
    for p in _notebooks(config):
        files.append(
            File(
                f"notebooks/{p.name}",
                src_dir=str(p.parent.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
