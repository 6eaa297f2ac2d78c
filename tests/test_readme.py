"""The README's library example runs as written."""

import re

from conftest import ROOT


def _blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_library_example_runs():
    code = _blocks()[0]
    assert "zkml.verify(proof, keys.vk)" in code
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["proof"].outputs[0].shape == (1, 3)


def test_readme_onchain_example_runs():
    ns = {}
    exec(compile(_blocks()[0] + _blocks()[1], "README.md", "exec"), ns)
    assert ns["result"] and ns["result"].gas_used > 400_000
