"""The hardware-check README's precision tables are what scripts/precision_pairs.py prints from the records."""

import importlib.util

from xlt.settings import repo_root


def test_the_hardware_check_tables_come_from_the_script(capsys):
    spec = importlib.util.spec_from_file_location("precision_pairs", repo_root() / "scripts" / "precision_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main() == 0
    out = capsys.readouterr().out
    readme = (repo_root() / "leaderboard" / "hardware-check" / "README.md").read_text()
    rows = [line for line in out.splitlines() if line.startswith("| ") and "source" not in line]
    assert len(rows) == 23 and all(row in readme for row in rows)  # 9 NLI and 14 sentiment pairs, as committed
    assert "9 cells: float32 minus bf16 -0.002 on average, std 0.005" in out and "float32 higher in 4" in out
    assert "14 cells: float32 minus bf16 +0.001 on average, std 0.005" in out and "float32 higher in 8" in out
    assert "nli el seed 43, float32: CPU 0.625, NVIDIA H100 80GB HBM3 0.626; per language GPU minus CPU from -1.2 " \
           "to +1.9 points, mean +0.1" in out
