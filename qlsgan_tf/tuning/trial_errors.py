"""Trial errors that stop the search instead of being recorded as an invalid trial.

KerasTuner catches every ``Exception`` a trial raises, marks the trial invalid and goes on:
a full disk, an unreadable file or a TensorFlow resource error would then skip runs
silently, and the search would end "successfully" with runs missing that a rerun never
retries. :class:`FailFast` turns such an error into KerasTuner's ``FatalError`` (which it
re-raises), chained to the original so that the CLI reports the original in one line.
"""
from typing import TYPE_CHECKING, Any

import keras_tuner

if TYPE_CHECKING:  # the mixin's methods resolve to the Tuner's through the MRO
    from keras_tuner import Tuner as _TunerBase
else:
    _TunerBase = object


class FailFast(_TunerBase):
    """Tuner mixin (put it before ``keras_tuner.Tuner``): any trial error ends the search.

    ``keras_tuner.errors.FailedTrialError`` keeps its meaning (a trial that failed by
    design); every other ``Exception`` becomes a ``FatalError`` raised from it. It wraps
    ``_run_and_update_trial`` (KerasTuner 1.4's step that calls ``run_trial`` and reports to
    the oracle), so a subclass's own ``run_trial`` is covered too.
    """

    def _run_and_update_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._run_and_update_trial(trial, *args, **kwargs)
        except (keras_tuner.errors.FailedTrialError, keras_tuner.errors.FatalError):
            raise
        except Exception as err:
            raise keras_tuner.errors.FatalError(
                f"trial {trial.trial_id} stopped the search: {type(err).__name__}: {err}"
            ) from err
