"""One template as one readable file, for keeping prompts in git: TOML front matter between
`+++` lines (name, description, tags, variables, default config, output schema), then the
prompt body exactly as stored.

The body after the closing `+++` line is the prompt byte for byte, so nothing in it needs
escaping. TOML has no null: a variable default or an output schema that holds one is written
as JSON text (`default_json`, `output_schema_json`), so every value round-trips exactly.
The same template always gives the same text, so a pull of unchanged templates rewrites
nothing and git sees no change.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from typing import Any

import tomli_w

FENCE = "+++"
SUFFIX = ".prompt"
# What a file carries, in the order it is written (the rest of a template is the server's).
FIELDS = ("name", "description", "tags", "default_config", "variables", "output_schema")


class PromptFileError(ValueError):
    pass


@dataclass
class PromptFile:
    name: str
    prompt: str
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)
    default_config: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None

    @classmethod
    def of(cls, template: Any) -> PromptFile:
        """From an SDK `Template` (or anything with its fields)."""
        return cls(
            name=template.name, prompt=template.prompt, description=template.description,
            tags=list(template.tags), variables=[dict(v) for v in template.variables],
            default_config=template.default_config, output_schema=template.output_schema,
        )

    def fields(self) -> dict[str, Any]:
        """The template's fields as create and update take them."""
        return {"name": self.name, "prompt": self.prompt, "description": self.description,
                "tags": self.tags, "variables": self.variables,
                "default_config": self.default_config, "output_schema": self.output_schema}

    def same_content(self, other: PromptFile) -> bool:
        return _normal(self.fields()) == _normal(other.fields())


def _normal(fields: dict[str, Any]) -> dict[str, Any]:
    """What the server treats as the same content: absent and empty config are one."""
    out = dict(fields)
    out["default_config"] = out["default_config"] or None
    out["variables"] = [{k: v for k, v in var.items() if v is not None}
                        for var in out["variables"]]
    return out


def _holds_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_null(v) for v in value)
    return False


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def dump(file: PromptFile) -> str:
    head: dict[str, Any] = {"name": file.name}
    if file.description is not None:
        head["description"] = file.description
    head["tags"] = file.tags
    if file.default_config:
        head["default_config"] = file.default_config
    variables = []
    for var in file.variables:
        entry = {k: v for k, v in var.items() if k != "default" and v is not None}
        if var.get("default") is not None:
            if _holds_null(var["default"]):
                entry["default_json"] = _json(var["default"])
            else:
                entry["default"] = var["default"]
        variables.append(entry)
    if variables:
        head["variables"] = variables
    if file.output_schema is not None:
        if _holds_null(file.output_schema):
            head["output_schema_json"] = _json(file.output_schema)
        else:
            head["output_schema"] = file.output_schema
    return f"{FENCE}\n{tomli_w.dumps(head)}{FENCE}\n{file.prompt}"


def load(text: str, where: str = "file") -> PromptFile:
    if not text.startswith(FENCE + "\n"):
        raise PromptFileError(f"{where}: does not start with a '{FENCE}' line (the front matter)")
    end = text.find(f"\n{FENCE}\n", len(FENCE))
    if end < 0:
        raise PromptFileError(f"{where}: the front matter has no closing '{FENCE}' line")
    try:
        head = tomllib.loads(text[len(FENCE) + 1:end + 1])
    except tomllib.TOMLDecodeError as exc:
        raise PromptFileError(f"{where}: front matter is not valid TOML: {exc}") from None
    prompt = text[end + len(FENCE) + 2:]
    known = {"name", "description", "tags", "default_config", "variables", "output_schema",
             "output_schema_json"}
    unknown = sorted(set(head) - known)
    if unknown:
        raise PromptFileError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                              f"a prompt file has {', '.join(FIELDS)}")
    if not isinstance(head.get("name"), str) or not head["name"]:
        raise PromptFileError(f"{where}: the front matter needs a 'name'")
    variables = []
    for var in head.get("variables", []):
        if not isinstance(var, dict):
            raise PromptFileError(f"{where}: each [[variables]] entry is a table")
        var = dict(var)
        if "default_json" in var:
            try:
                var["default"] = json.loads(var.pop("default_json"))
            except (TypeError, ValueError) as exc:
                raise PromptFileError(f"{where}: a default_json is not JSON: {exc}") from None
        variables.append(var)
    schema = head.get("output_schema")
    if "output_schema_json" in head:
        try:
            schema = json.loads(head["output_schema_json"])
        except (TypeError, ValueError) as exc:
            raise PromptFileError(f"{where}: output_schema_json is not JSON: {exc}") from None
    return PromptFile(
        name=head["name"], prompt=prompt, description=head.get("description"),
        tags=list(head.get("tags", [])), variables=variables,
        default_config=head.get("default_config"), output_schema=schema,
    )
