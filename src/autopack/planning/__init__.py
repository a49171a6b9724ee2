"""Planning: plan files in, a validated RunSpec and preflight warnings out.

- :func:`load_plan` reads a YAML, JSON or Markdown plan file (:mod:`.normalize`);
- :func:`plan_from_data` validates already-parsed data (a RunSpec or the original's
  RunStartRequest);
- :func:`parse_markdown_plan` reads Markdown text (:mod:`.markdown` documents the syntax);
- :func:`preflight` checks a spec against a repository without running anything.

Every plan problem is an :class:`autopack.errors.PlanError` naming the file, the line
where the format tells it, and the field.
"""

from autopack.planning.markdown import parse_markdown_plan
from autopack.planning.normalize import PLAN_FORMATS, load_plan, plan_from_data
from autopack.planning.preflight import PreflightWarning, preflight

__all__ = [
    "PLAN_FORMATS",
    "PreflightWarning",
    "load_plan",
    "parse_markdown_plan",
    "plan_from_data",
    "preflight",
]
