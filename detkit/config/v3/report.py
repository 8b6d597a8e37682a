"""What a v2 <-> v3 config translation could not carry over exactly.

Every entry names the config key it concerns and says why. Three kinds:

* ``dropped``: the key has no effect in detkit (a visualizer, a timer hook, ``default_scope``);
  results do not change.
* ``approximate``: detkit runs it, but not with the other generation's exact semantics (the
  entry says what differs).
* ``unsupported``: there is no equivalent; loading such a v3 config is an error that lists
  these entries, the converter writes the rest and lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConversionReport", "ReportEntry", "ConfigTranslationError"]

KINDS = ("dropped", "approximate", "unsupported")


class ConfigTranslationError(ValueError):
    """A config cannot be translated to the other generation (names the keys and why)."""


@dataclass(frozen=True)
class ReportEntry:
    """One key that did not map exactly: ``kind`` (see the module docstring), ``key`` (dotted
    path in the source config) and ``reason``."""

    kind: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.key}: {self.reason}"


@dataclass
class ConversionReport:
    """The entries of one translation, in the order they were found.

    Args:
        source: the generation translated from (``'v2'`` or ``'v3'``).
        target: the generation translated to.
    """

    source: str
    target: str
    entries: list[ReportEntry] = field(default_factory=list)

    def add(self, kind: str, key: str, reason: str) -> None:
        """Record ``key`` as ``kind`` (one of ``dropped``/``approximate``/``unsupported``)."""
        if kind not in KINDS:
            raise ValueError(f"report kind must be one of {KINDS}, got {kind!r}")
        self.entries.append(ReportEntry(kind, key, reason))

    def of_kind(self, kind: str) -> list[ReportEntry]:
        """The entries of one kind."""
        return [entry for entry in self.entries if entry.kind == kind]

    def text(self) -> str:
        """One line per entry (``'nothing to report'`` when empty)."""
        if not self.entries:
            return f"{self.source} -> {self.target}: every key mapped exactly"
        lines = [f"{self.source} -> {self.target}: {len(self.entries)} key(s) not mapped exactly"]
        return "\n".join(lines + [f"  {entry}" for entry in self.entries])

    def raise_unsupported(self, where: str) -> None:
        """Raise :class:`ConfigTranslationError` listing the ``unsupported`` entries, if any."""
        bad = self.of_kind("unsupported")
        if bad:
            listed = "\n  ".join(str(entry) for entry in bad)
            raise ConfigTranslationError(
                f"{where}: {len(bad)} MMDetection {self.source} key(s) have no detkit "
                f"equivalent:\n  {listed}"
            )
