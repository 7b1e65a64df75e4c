import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src").rglob("__init__.py")}
    found |= {
        "tunebench_pytest" + "".join("." + part for part in p.parent.relative_to(ROOT / "plugins").parts)
        for p in (ROOT / "plugins").rglob("__init__.py")
    }
    assert found == listed
