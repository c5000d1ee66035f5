"""The templates and sampler tables learned from NetFlow v9 and IPFIX exporters, per scope.

RFC 7011 (3.4.1, 8) scopes a template to its Transport Session and Observation Domain: for UDP,
the exporter's address and source port, and the domain id (v9: the source id). Keying the cache
by that whole tuple is what keeps two exporters (or two line cards of one) that reuse template
id 256 from decoding each other's data.

The cache can be written atomically (temp file, fsync, rename) and read back at start, so a
restart decodes the next data set at once instead of waiting out the exporter's template
refresh (often 10-30 minutes on routers), which is when other collectors lose flows.
Plans (`collectors.flow.plan`) are compiled when data first needs them and shared between
scopes whose templates are identical, so a template flood costs memory for the field lists
only, and that is bounded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import msgspec

from collectors.flow.plan import Field, Plan, compile_plan, field_name

Scope = tuple[str, int, int, int]  # (exporter address, exporter port, version, domain / source id)
FILE_FORMAT = 1
MAX_SHARED_PLANS = 4096


@dataclass(frozen=True, slots=True)
class Template:
    template_id: int
    fields: tuple[Field, ...]
    options: bool
    scope_fields: int  # options templates: how many leading fields are scope fields
    learned_at: float


class TemplateCache:
    """Templates per scope, with a limit on the total and per exporter address (all its ports
    and domains), so neither a flood nor an exporter cycling source ports can grow it."""

    def __init__(self, max_templates: int = 20_000, max_per_exporter: int = 2_048) -> None:
        self.max_templates = max_templates
        self.max_per_exporter = max_per_exporter
        self._per_exporter: dict[str, int] = {}
        self._templates: dict[Scope, dict[int, Template]] = {}
        self._plans: dict[tuple[Scope, int], Plan] = {}
        self._shared_plans: dict[tuple[tuple[Field, ...], bool], Plan] = {}
        self.samplers: dict[Scope, dict[int, int]] = {}  # sampler / selector id -> rate
        self.default_rates: dict[Scope, int] = {}  # a scope's rate from options data naming no sampler
        self.boot_ms: dict[Scope, int] = {}  # systemInitTimeMilliseconds from options data
        self.count = 0
        self.changed = False  # anything to save since the last save or load
        self.fresh: set[Scope] = set()  # scopes learned or changed since the last take_fresh

    def get(self, scope: Scope, template_id: int) -> Template | None:
        templates = self._templates.get(scope)
        return templates.get(template_id) if templates else None

    def learn(self, scope: Scope, template: Template, share: bool = True) -> bool:
        """Keep a template (replacing one of the same id); False when a limit refuses it.
        `share` marks its scope fresh, for `take_fresh` (not for templates adopted from others)."""
        templates = self._templates.get(scope)
        if templates is None:
            if self.count >= self.max_templates:
                return False
            templates = self._templates[scope] = {}
        old = templates.get(template.template_id)
        if old is None:
            held = self._per_exporter.get(scope[0], 0)
            if self.count >= self.max_templates or held >= self.max_per_exporter:
                if not templates:
                    del self._templates[scope]
                return False
            self._per_exporter[scope[0]] = held + 1
            self.count += 1
        elif old.fields == template.fields and old.options == template.options:
            # A refresh: the exporter re-sends its templates every few seconds or minutes.
            return True
        templates[template.template_id] = template
        self._plans.pop((scope, template.template_id), None)
        self.changed = True
        if share:
            self.fresh.add(scope)
        return True

    def withdraw(self, scope: Scope, template_id: int | None, options: bool) -> int:
        """Forget one template, or all of a kind (`template_id` None); returns how many."""
        templates = self._templates.get(scope)
        if not templates:
            return 0
        if template_id is None:
            doomed = [tid for tid, t in templates.items() if t.options == options]
        else:
            doomed = [template_id] if template_id in templates else []
        for tid in doomed:
            del templates[tid]
            self._plans.pop((scope, tid), None)
        self.count -= len(doomed)
        left = self._per_exporter[scope[0]] - len(doomed)
        if left:
            self._per_exporter[scope[0]] = left
        else:
            del self._per_exporter[scope[0]]
        if not templates:
            del self._templates[scope]
        self.changed = self.changed or bool(doomed)
        return len(doomed)

    def plan(self, scope: Scope, template: Template) -> Plan:
        """The compiled plan for a template (raises PlanError for one that cannot decode)."""
        key = (scope, template.template_id)
        plan = self._plans.get(key)
        if plan is None:
            shape = (template.fields, template.options)
            plan = self._shared_plans.get(shape)
            if plan is None:
                if len(self._shared_plans) >= MAX_SHARED_PLANS:
                    self._shared_plans.clear()
                plan = self._shared_plans[shape] = compile_plan(template.fields, template.options)
            if len(self._plans) >= self.max_templates:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def scopes(self) -> dict[Scope, dict[int, Template]]:
        return self._templates

    def templates_of(self, address: str) -> int:
        return self._per_exporter.get(address, 0)

    def set_sampler(self, scope: Scope, sampler: int | None, rate: int, share: bool = True) -> None:
        if sampler is None:
            if self.default_rates.get(scope) != rate:
                self.default_rates[scope] = rate
                self._changed(scope, share)
            return
        table = self.samplers.setdefault(scope, {})
        if table.get(sampler) != rate and (sampler in table or len(table) < 1024):
            table[sampler] = rate
            self._changed(scope, share)

    def set_boot(self, scope: Scope, boot_ms: int, share: bool = True) -> None:
        if self.boot_ms.get(scope) != boot_ms and (scope in self.boot_ms or len(self.boot_ms) < self.max_templates):
            self.boot_ms[scope] = boot_ms
            self._changed(scope, share)

    def _changed(self, scope: Scope, share: bool) -> None:
        self.changed = True
        if share:
            self.fresh.add(scope)

    def take_fresh(self) -> bytes | None:
        """What this cache learned since the last call, in the file format, for sibling
        workers' `FlowDecoder.adopt` (a template and its data may reach different workers)."""
        if not self.fresh:
            return None
        scopes, self.fresh = self.fresh, set()
        return self.dump(scopes)

    # ---- persistence ------------------------------------------------------------------------

    def dump(self, scopes: set[Scope] | None = None) -> bytes:
        """The cache (or the given scopes of it) in the template file format."""

        def wanted(scope: Scope) -> bool:
            return scopes is None or scope in scopes

        return _FILE_ENCODER.encode(
            TemplateFile(
                format=FILE_FORMAT,
                templates=[
                    SavedTemplate(
                        scope, t.template_id, t.options, t.scope_fields, [list(f) for f in t.fields], t.learned_at
                    )
                    for scope, templates in self._templates.items()
                    if wanted(scope)
                    for t in templates.values()
                ],
                samplers=[
                    SavedSampler(scope, sampler, rate)
                    for scope, table in self.samplers.items()
                    if wanted(scope)
                    for sampler, rate in table.items()
                ]
                + [SavedSampler(scope, None, rate) for scope, rate in self.default_rates.items() if wanted(scope)],
                boot_ms=[SavedBoot(scope, ms) for scope, ms in self.boot_ms.items() if wanted(scope)],
            )
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the cache atomically: a crash leaves the old file or the new one, never half."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.dump())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.changed = False

    def save_if_changed(self, path: str | os.PathLike[str]) -> bool:
        if not self.changed:
            return False
        self.save(path)
        return True

    def describe(self) -> list[dict[str, object]]:
        """The templates as a person reads them (for `nocraven flow templates`)."""
        return [
            {
                "exporter": scope[0],
                "port": scope[1],
                "version": scope[2],
                "domain": scope[3],
                "template_id": t.template_id,
                "kind": "options" if t.options else "data",
                "fields": [field_name(ie, pen)[0] for ie, _, pen in t.fields],
                "scope_fields": t.scope_fields,
                "learned_at": t.learned_at,
            }
            for scope, templates in sorted(self._templates.items())
            for t in sorted(templates.values(), key=lambda t: t.template_id)
        ]

    def load(self, path: str | os.PathLike[str]) -> tuple[int, str | None]:
        """Add the templates saved at path to this cache (several workers' files can be merged).
        Returns how many were loaded and, when the file could not be used, why, in words."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return 0, None
        except OSError as exc:
            return 0, f"flow template file {path} could not be read ({exc.strerror}); templates will be relearned"
        try:
            return self.load_bytes(data), None
        except (msgspec.DecodeError, ValueError) as exc:
            return 0, f"flow template file {path} is damaged ({exc}); templates will be relearned from exporters"

    def load_bytes(self, data: bytes) -> int:
        """Learn the templates of a saved file (raises msgspec.DecodeError or ValueError)."""
        learned = self.adopt_bytes(data)
        self.changed = False
        return len(learned)

    def adopt_bytes(self, data: bytes) -> list[tuple[Scope, int]]:
        """Add what a dump holds without marking it fresh; returns the (scope, template id) of
        the templates taken in. Raises msgspec.DecodeError or ValueError for a damaged dump."""
        saved = _FILE_DECODER.decode(data)
        if saved.format != FILE_FORMAT:
            raise ValueError(f"unknown format {saved.format!r}")
        learned: list[tuple[Scope, int]] = []
        for item in saved.templates:
            fields = tuple((ie, length, pen) for ie, length, pen in map(_field, item.fields))
            template = Template(item.id, fields, item.options, item.scope_fields, item.learned_at)
            if self.learn(item.scope, template, share=False):
                learned.append((item.scope, item.id))
        for sampler in saved.samplers:
            self.set_sampler(sampler.scope, sampler.sampler, sampler.rate, share=False)
        for boot in saved.boot_ms:
            self.set_boot(boot.scope, boot.ms, share=False)
        return learned


class SavedTemplate(msgspec.Struct):
    scope: Scope
    id: int
    options: bool
    scope_fields: int
    fields: list[list[int]]
    learned_at: float


class SavedSampler(msgspec.Struct):
    scope: Scope
    sampler: int | None
    rate: int


class SavedBoot(msgspec.Struct):
    scope: Scope
    ms: int


class TemplateFile(msgspec.Struct):
    format: int
    templates: list[SavedTemplate]
    samplers: list[SavedSampler] = []
    boot_ms: list[SavedBoot] = []


_FILE_ENCODER = msgspec.json.Encoder()
_FILE_DECODER = msgspec.json.Decoder(TemplateFile)


def _field(value: list[int]) -> Field:
    if len(value) != 3 or not (0 <= value[0] <= 0xFFFF and 0 <= value[1] <= 0xFFFF and -1 <= value[2] < 2**32):
        raise ValueError(f"bad template field {value!r}")
    return value[0], value[1], value[2]
