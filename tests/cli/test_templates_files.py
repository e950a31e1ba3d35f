"""`pe templates pull|push`: prompts as files that round-trip exactly, pushes that are
idempotent, dry runs that change nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from promptexecution.cli import main
from promptexecution.cli.prompt_files import PromptFile, PromptFileError, dump, load
from tests.conftest import ServerHandle

TEMPLATES = [
    {"name": "plain", "prompt": "Hello {{ name }}", "variables": [{"name": "name"}]},
    {
        "name": "rich.one",
        "description": "Multi-line\ndescription with \"quotes\" and ünïcödé ✓",
        "prompt": "+++\n{% for x in items %}- {{ x }}\n{% endfor %}\n+++\ntrailing\n\n",
        "variables": [
            {"name": "items", "type": "array", "required": True, "description": "what"},
            {"name": "extra", "type": "object", "default": {"a": None, "b": [1, 2.5, True]}},
        ],
        "default_config": {"temperature": 0.4, "max_tokens": 300, "stop": ["\n\n"]},
        "tags": ["docs", "emoji 🎉"],
        "output_schema": {"type": "object", "properties": {"x": {"default": None}}},
    },
    {"name": "schema", "prompt": "Classify {{ t }}", "variables": [{"name": "t"}],
     "output_schema": {"type": "object", "required": ["label"],
                       "properties": {"label": {"type": "string"}}}},
]


@pytest.fixture
def own(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    key = server.make_key("professional")
    monkeypatch.setenv("PE_BASE_URL", server.base_url)
    monkeypatch.setenv("PE_API_KEY", key)
    client = server.client(key)
    for body in TEMPLATES:
        assert client.post("/templates", json=body).status_code == 201
    return client


def _versions(own: httpx.Client) -> dict[str, str]:
    listing = own.get("/templates", params={"limit": 100}).json()["templates"]
    return {t["name"]: t["version"] for t in listing}


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_pull_then_push_of_an_untouched_dir_changes_nothing(
    own: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "prompts"
    assert main(["templates", "pull", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "plain.prompt", "rich.one.prompt", "schema.prompt"]
    rich = (folder / "rich.one.prompt").read_text(encoding="utf-8")
    assert rich.endswith("+++\n" + TEMPLATES[1]["prompt"])  # the body as stored, byte for byte
    assert 'name = "rich.one"' in rich  # readable TOML front matter
    before_files, before_versions = _snapshot(folder), _versions(own)
    capsys.readouterr()
    assert main(["templates", "push", str(folder)]) == 0
    assert "0 created, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert _versions(own) == before_versions
    assert main(["templates", "pull", str(folder)]) == 0
    assert _snapshot(folder) == before_files  # same bytes, not even rewritten


def test_push_makes_one_version_per_changed_file_with_its_note_and_is_idempotent(
    own: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "p"
    main(["templates", "pull", str(folder)])
    path = folder / "plain.prompt"
    path.write_text(path.read_text().replace("Hello {{ name }}", "Hi there, {{ name }}!"))
    (folder / "brand_new.prompt").write_text(
        '+++\nname = "brand_new"\ntags = ["x"]\n+++\nFresh {{ thing }}\n')
    capsys.readouterr()
    assert main(["templates", "push", str(folder), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    lines = dry.splitlines()  # each on its own line, though the prompt ends without a newline
    assert "-Hello {{ name }}" in lines and "+Hi there, {{ name }}!" in lines
    assert "\\ No newline at end of file" in lines
    assert "+Fresh {{ thing }}" in lines
    assert "1 would be created, 1 would be updated, 2 unchanged" in dry
    assert _versions(own) == {"plain": "1.0", "rich.one": "1.0", "schema": "1.0"}
    assert main(["templates", "push", str(folder), "-m", "friendlier greeting"]) == 0
    out = capsys.readouterr().out
    assert "updated plain 1.0 -> 1.1" in out and "created brand_new 1.0" in out
    assert _versions(own)["plain"] == "1.1"
    note = own.get("/templates/plain").json()["change_note"]
    assert note == "friendlier greeting"
    assert main(["templates", "push", str(folder)]) == 0
    assert "0 created, 0 updated, 4 unchanged" in capsys.readouterr().out
    assert _versions(own)["plain"] == "1.1"


def test_removing_a_field_in_the_file_clears_it_on_the_server(
    own: httpx.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    main(["templates", "pull", str(folder)])
    path = folder / "rich.one.prompt"
    text = path.read_text(encoding="utf-8")
    head, body = text.split("\n+++\n", 1)
    kept = [line for line in head.splitlines() if not line.startswith(("description", "output"))]
    path.write_text("\n".join(kept) + "\n+++\n" + body, encoding="utf-8")
    assert main(["templates", "push", str(folder)]) == 0
    stored = own.get("/templates/rich.one").json()
    assert stored["description"] is None and stored["output_schema"] is None
    assert stored["version"] == "1.1"
    assert main(["templates", "push", str(folder)]) == 0
    assert own.get("/templates/rich.one").json()["version"] == "1.1"


def test_a_bad_file_is_reported_and_the_others_still_pushed(
    own: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "p"
    main(["templates", "pull", str(folder)])
    (folder / "broken.prompt").write_text("no front matter here")
    (folder / "bad_jinja.prompt").write_text('+++\nname = "bad_jinja"\n+++\n{% if %}')
    path = folder / "schema.prompt"
    path.write_text(path.read_text().replace("Classify", "Label"))
    capsys.readouterr()
    assert main(["templates", "push", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "broken.prompt: does not start with a '+++' line" in captured.err
    assert "TEMPLATE_SYNTAX_ERROR" in captured.err and "request req_" in captured.err
    assert "updated schema 1.0 -> 1.1" in captured.out


def test_no_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PE_BASE_URL", "http://127.0.0.1:9/v2")
    monkeypatch.setenv("PE_API_KEY", "pe_sk_live_nothing")
    assert main(["templates", "pull", str(tmp_path / "x")]) == 1
    assert "pe templates:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("+++\nname = 'x'\n", "no closing"),
        ("+++\nname = = 'x'\n+++\n", "not valid TOML"),
        ("+++\ntitle = 'x'\n+++\n", r"unknown field\(s\) title"),
        ("+++\ntags = []\n+++\nbody", "needs a 'name'"),
    ],
)
def test_malformed_files_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(PromptFileError, match=problem):
        load(text)


def test_the_format_round_trips_values_toml_cannot_hold() -> None:
    file = PromptFile(name="n", prompt="", variables=[
        {"name": "v", "type": "array", "default": [None, {"k": None}]}],
        output_schema={"enum": ["a", None]})
    assert load(dump(file)) == file
    assert dump(load(dump(file))) == dump(file)


def test_a_prompt_with_windows_line_ends_round_trips_through_the_disk(
    own: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """read_text turned \\r\\n into \\n, so an untouched pull then push made a version."""
    assert own.post("/templates", json={"name": "crlf", "prompt": "Hello\r\n{{ x }}\r\n",
                                        "variables": [{"name": "x"}]}).status_code == 201
    folder = tmp_path / "p"
    assert main(["templates", "pull", str(folder)]) == 0
    capsys.readouterr()
    assert main(["templates", "push", str(folder)]) == 0
    assert "0 created, 0 updated, 4 unchanged" in capsys.readouterr().out
    assert own.get("/templates/crlf").json()["version"] == "1.0"
