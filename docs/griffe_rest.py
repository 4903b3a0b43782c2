"""A griffe extension (used by mkdocstrings, see mkdocs.yml) that renders the reST math of our
docstrings: ``.. math::`` blocks become ``$$ ... $$`` and ``:math:`x``` becomes ``$x$``, which
``pymdownx.arithmatex`` hands to MathJax; doctest sessions (``>>>``) are fenced as code. The
docstrings themselves stay as they are (they are
also read with ``help()``, where reST math is the convention).
"""

from __future__ import annotations

import re

import griffe

_INLINE = re.compile(r':math:`([^`]+)`')


def doctest_to_fences(text: str) -> str:
  """Wraps each doctest session (a ``>>>`` line up to the next blank line) in a pycon fence,
  so it renders as code instead of Markdown blockquotes."""
  lines = text.split('\n')
  out = []
  i = 0
  while i < len(lines):
    line = lines[i]
    if not line.lstrip().startswith('>>>'):
      out.append(line)
      i += 1
      continue
    indent = line[:len(line) - len(line.lstrip())]
    out.append(indent + '```pycon')
    while i < len(lines) and lines[i].strip():
      out.append(lines[i])
      i += 1
    out.append(indent + '```')
  return '\n'.join(out)


def rest_math_to_markdown(text: str) -> str:
  """``.. math::`` blocks (content on the directive line and/or indented below) and
  ``:math:`...``` roles, as arithmatex block and inline math."""
  lines = text.split('\n')
  out = []
  i = 0
  while i < len(lines):
    line = lines[i]
    match = re.match(r'^(\s*)\.\. math::\s*(.*)$', line)
    if not match:
      out.append(_INLINE.sub(lambda m: f'${m.group(1)}$', line))
      i += 1
      continue
    indent, first = match.group(1), match.group(2)
    body = [first] if first.strip() else []
    i += 1
    while i < len(lines):
      nxt = lines[i]
      if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= len(indent):
        break
      body.append(nxt.strip())
      i += 1
    while body and not body[-1]:
      body.pop()
    out += [indent + '$$'] + [indent + b for b in body if b] + [indent + '$$', '']
  return '\n'.join(out)


class ReSTMath(griffe.Extension):
  """Rewrites each object's docstring for rendering (see the module docstring)."""

  def on_instance(self, *, obj, **kwargs):  # pylint: disable=unused-argument
    if obj.docstring is not None:
      obj.docstring.value = doctest_to_fences(rest_math_to_markdown(obj.docstring.value))
