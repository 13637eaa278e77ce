#!/usr/bin/env python3
"""Regenerates tests/fuzz/corpus/<harness>/ seed files from recorded GitHub
traffic: tests/github/fixtures and, when present, ../shared/fixtures/github
(octokit/fixtures and PyGithub replay data). The seeds are committed, so CI
never needs the shared directory; rerun this only to refresh them.

usage: tests/fuzz/make_seeds.py [SHARED_FIXTURE_DIR]
"""
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parent.parent
CORPUS = ROOT / "corpus"
SHARED = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "fixtures" / "github"
MAX_SEED = 64 * 1024  # matches scripts/fuzz.sh's -max_len for the page parser

seeds: dict[str, set[bytes]] = {}


def add(harness: str, data) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data and len(data) <= MAX_SEED:
        seeds.setdefault(harness, set()).add(data)


def headers_of(record: dict) -> list[tuple[str, str]]:
    out = []
    h = record.get("headers")
    if isinstance(h, dict):
        out += [(k, str(v)) for k, v in h.items()]
    elif isinstance(h, list):  # PyGithub: [[name, value], ...]
        out += [(k, str(v)) for k, v in h]
    raw = record.get("rawHeaders")
    if isinstance(raw, list):
        out += [(raw[i], str(raw[i + 1])) for i in range(0, len(raw) - 1, 2)]
    return out


def strings_in(value, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            strings_in(v, out)
    elif isinstance(value, dict):
        for k, v in value.items():
            out.append(k)
            strings_in(v, out)


def body_text(record: dict):
    body = record.get("response", record.get("data"))
    if isinstance(body, (list, dict)):
        return json.dumps(body, ensure_ascii=False)
    if isinstance(body, str):
        return body
    return None


def take_record(record: dict) -> None:
    for name, value in headers_of(record):
        lname = name.lower()
        if lname == "link":
            add("link_header", value)
        elif lname in ("retry-after", "x-ratelimit-reset", "date", "last-modified", "expires"):
            add("retry_after", value)
        if lname in ("x-ratelimit-reset", "x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-used"):
            add("rate_limit", value)
    body = body_text(record)
    if body is None:
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        return
    if isinstance(parsed, list) or (isinstance(parsed, dict) and "message" in parsed):
        add("page_parser", body)
    texts: list[str] = []
    strings_in(parsed, texts)
    for t in texts:
        if len(t) <= 200:
            add("json_string", t)
    for item in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(item, dict):
            for key in ("full_name", "name"):
                if isinstance(item.get(key), str):
                    add("repo_name", item[key])
            repo = item.get("repository_url") or item.get("url") or ""
            if "/repos/" in repo:
                add("repo_name", "/".join(repo.split("/repos/", 1)[1].split("/")[:2]))
            for key in ("title", "login"):
                if isinstance(item.get(key), str):
                    add("csv", item[key])


for path in sorted((REPO / "tests" / "github" / "fixtures").glob("*.json")):
    add("page_parser", path.read_bytes())
    texts: list[str] = []
    strings_in(json.loads(path.read_text()), texts)
    for t in texts:
        if len(t) <= 200:
            add("json_string", t)

if SHARED.is_dir():
    for path in sorted(SHARED.rglob("*.json")):
        try:
            records = json.loads(path.read_text())
        except ValueError:
            continue
        for record in records if isinstance(records, list) else []:
            if isinstance(record, dict):
                take_record(record)

# Hand-written seeds: the shapes that matter and that recordings lack.
for value in ["120", "0", " 7 ", "99999999999999999999", "-1", "Wed, 21 Oct 2015 07:28:00 GMT",
              "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT",
              "1507651200", "1507651200000"]:
    add("retry_after", value)
for value in ["1767225600", "1767226500", "1767226499", "0", "-9223372036854775808", "9223372036854775807",
              "253402300800", " 1767225601", "1767225600.5", "+5", "0x10"]:
    add("rate_limit", value)
for value in ['<https://api.github.com/repositories/1/issues?page=2&per_page=100>; rel="next", '
              '<https://api.github.com/repositories/1/issues?page=50>; rel="last"',
              '<https://api.github.com/r?after=Y3Vyc29y>; rel="next prev"',
              '<a?page=2147483647>; rel=last', '<a?page=0>; REL="Next"; title="x"']:
    add("link_header", value)
for value in ["octocat/hello-world", "a/b", "a-b/c.d_e", "o/.", "o/..", "/r", "o/", "owner/repo/extra",
              "-o/r", "o" * 39 + "/" + "r" * 100]:
    add("repo_name", value)
# CLI seeds: arguments separated by NUL bytes (see fuzz_cli.cpp).
for args in [["octocat/hello-world"], ["--format", "csv", "a/b", "c/d"], ["--concurrency=8", "--no-progress", "x/y"],
             ["--api-url", "https://ghe.example/api/v3", "--out", "o.csv", "a/b"], ["--demo", "--format=table"],
             ["--concurrency", "1001"], ["-h"], ["--cache-dir", "", "a/b"], ["--progress=1"], ["a/b", "a/b"]]:
    add("cli", "\0".join(args))
for value in ["plain", "comma, inside", 'quote " inside', "line\nbreak", "cr\r\nlf", "bell\x07", "tab\tx",
              "caf\u00e9 \u2603 \U0001F600", "a=1; b=2", ""]:
    add("csv", value)
    add("json_string", value)
add("json_string", b"bad \xff \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82")
add("csv", b"bad \xff \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82")

MAX_SEEDS = 150  # per harness: libFuzzer grows the corpus itself; seeds give it shapes


def keep(items: set[bytes]) -> list[bytes]:
    """Every seed with a non-ASCII or control byte, then a stable sample of the rest."""
    unusual = sorted(d for d in items if any(b >= 0x80 or b < 0x20 for b in d))
    rest = sorted((d for d in items if d not in unusual), key=lambda d: hashlib.sha1(d).digest())
    return (unusual + rest)[:MAX_SEEDS]


for harness, all_items in sorted(seeds.items()):
    items = keep(all_items)
    d = CORPUS / harness
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for data in sorted(items):
        (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)
    print(f"{harness}: {len(items)} seeds, {sum(map(len, items))} bytes")
