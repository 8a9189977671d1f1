"""The ledger reconciliation sees the store only through its port: importing it loads no
SQLAlchemy and no adapter, and the SQLAlchemy store hands out an implementation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from perphedge.adapters.store.repository import HedgeStore
from perphedge.engine.ledger_port import HasLedger, LedgerRepository


def test_importing_the_ledger_loads_no_sqlalchemy_and_no_adapter() -> None:
    code = ("import sys\nimport perphedge.engine.ledger, perphedge.engine.ledger_port\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith("
            "('sqlalchemy', 'perphedge.adapters'))}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_sqlalchemy_store_hands_out_a_ledger_repository(tmp_path: Path) -> None:
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    assert isinstance(store, HasLedger)
    ledger: LedgerRepository = store.ledger()
    assert ledger.cursor("none", "transfers") is None
    assert ledger.account_hedges("main") == []
    store.close()
