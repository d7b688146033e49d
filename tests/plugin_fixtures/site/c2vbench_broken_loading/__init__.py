"""Fixture plug-ins that fail while loading, each under an entry point named like the component it would provide:
an import error, a misspelt hook, a hook that yields something that is not a spec, a spec with an invalid name, and
an options dataclass with a field that has no default."""
