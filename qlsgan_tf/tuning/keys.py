"""The name of one training run, shared by the trainer (``tuning.packs``) and the run store.

TensorFlow-free, so that ``study.store`` and ``qlsgan report`` import it cheaply.
"""


def run_key(generator, critic_budget, seed, learning_rate=None):
    """File-name-safe key of one training run (with its learning rate when given)."""
    key = f"{generator}__c{int(critic_budget)}__s{int(seed)}"
    return key if learning_rate is None else f"{key}__lr{float(learning_rate):g}"
