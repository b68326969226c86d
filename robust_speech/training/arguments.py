"""The recipe flags of the training script, as dataclasses parsed by `transformers.HfArgumentParser`
(the model flags are model/arguments.py's, the data flags data/arguments.py's).

Field names are the reference recipe's (`run_speech_recognition_ctc.py`), so its commands work unchanged;
fields it lacks are ours and say so in their help. Old spellings users paste from the challenge era
(`--use_auth_token`) are accepted with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class RecipeArguments:
    """Ours: what the reference recipe does not have."""

    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "start from scratch even if output_dir holds checkpoints (else: resume)"}
    )
    max_batch_duration_s: Optional[float] = field(
        default=None, metadata={"help": "form training batches by total padded audio seconds from duration buckets "
                                "instead of a fixed --per_device_train_batch_size"}
    )
    bucket_buffer_size: int = field(
        default=500, metadata={"help": "with --streaming and --max_batch_duration_s or --group_by_length: decoded "
                               "examples read ahead and bucketed by duration (memory: this many clips of audio)"}
    )
    augment: Optional[str] = field(
        default=None, metadata={"help": "multi-condition training: any of speed,pitch,rir,reverb,babble,noise,gain,clip,"
                                "codec,bandlimit, each optionally with its probability (rir:0.3)"}
    )
    augment_prob: float = field(default=0.5, metadata={"help": "probability of each --augment condition given without one"})
    augment_snr_db: str = field(default="5,20", metadata={"help": "noise SNR range in dB, low,high"})
    augment_babble_snr_db: str = field(default="5,20", metadata={"help": "babble SNR range in dB, low,high"})
    augment_speeds: str = field(default="0.9,1.1", metadata={"help": "speed factor range, low,high"})
    augment_semitones: str = field(default="-3,3", metadata={"help": "pitch shift range in semitones, low,high "
                                   "(--augment_semitones=-2,2: a leading minus needs the =)"})
    augment_rt60_s: str = field(default="0.2,1.0", metadata={"help": "reverberation time range of rir/reverb, low,high"})
    augment_copies: int = field(
        default=0, metadata={"help": "render this many degraded copies of the training set once, before training, "
                             "and train on them with the clean set (features cached); 0: degrade on the fly, in the "
                             "collator (dataloader workers)"}
    )
    feature_cache_mb: int = field(
        default=1024, metadata={"help": "filterbank models: keep each example's input features in memory (up to "
                                "this many MB per process) instead of recomputing them every epoch; 0: off. Unused "
                                "with on-the-fly --augment"}
    )
    language: Optional[str] = field(
        default=None, metadata={"help": "ISO code for the model card (default: from --dataset_config_name)"}
    )
    # Training health (training/health.py).
    stop_when_failing: bool = field(
        default=True, metadata={"help": "stop the run with a one-line diagnosis when the training loss becomes NaN/inf, "
                                "rises past --loss_divergence_factor, is 0 (no alignment fits), or every prediction is "
                                "still empty after the warm-up and --failing_evaluations evaluations"}
    )
    failing_evaluations: int = field(
        default=5, metadata={"help": "with --stop_when_failing: evaluations in a row past the warm-up with every "
                             "prediction empty before the run stops"}
    )
    loss_divergence_factor: float = field(
        default=4.0, metadata={"help": "with --stop_when_failing: stop when the logged training loss exceeds this many "
                               "times the first step's (the untrained model's); 0: never"}
    )
    sample_predictions: int = field(
        default=3, metadata={"help": "reference/prediction pairs logged at each evaluation (and to TensorBoard); 0: none"}
    )


