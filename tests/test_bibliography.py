"""references.bib parses, has each key once, and every key a chapter cites is in it."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bibliography_parses_with_unique_keys():
    from pybtex.database import parse_file
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,]+),", text, flags=re.MULTILINE)
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, f"references.bib defines these keys more than once: {dupes}"
    db = parse_file(str(ROOT / "references.bib"))
    assert sorted(db.entries) == sorted(keys)


def test_every_cited_key_exists():
    from pybtex.database import parse_file
    known = set(parse_file(str(ROOT / "references.bib")).entries)
    missing = {}
    for path in sorted((ROOT / "book").glob("*.*")):
        if path.suffix not in (".ipynb", ".md"):
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            for key in (k.strip() for k in group.split(",")):
                if key not in known:
                    missing.setdefault(path.name, []).append(key)
    assert not missing, f"cited but not in references.bib: {missing}"
