"""The name of one training run, shared by the trainer (``tuning.packs``) and the run store.

TensorFlow-free, so that ``study.store`` and ``qlsgan report`` import it cheaply.
"""
from typing import Optional


def run_key(generator: str, critic_budget: int, seed: int,
            learning_rate: Optional[float] = None) -> str:
    """File-name-safe key of one training run (with its learning rate when given)."""
    key = f"{generator}__c{int(critic_budget)}__s{int(seed)}"
    return key if learning_rate is None else f"{key}__lr{float(learning_rate):g}"
