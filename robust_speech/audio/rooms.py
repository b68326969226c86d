"""Room impulse responses of simulated rooms, for reverberation that resembles real recordings.

pyroomacoustics' image-source model of a shoebox room: a random size, a wall absorption chosen (Sabine's
formula) for a target reverberation time, and a talker and a microphone at random places inside. A response
with long reverberation in a small room needs many reflections and takes long to simulate, so training draws
from a bank simulated once and kept in the cache, not from a new room per example.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.files import atomic_write
from robust_speech.core.logs import LOGGER
from robust_speech.core.paths import cache_root

ROOMS_VERSION = 1
# Reflection orders above this cost seconds per room for little tail energy; rooms that would need more are
# drawn larger instead.
MAX_REFLECTION_ORDER = 100
ROOM_SIZE_M = ((3.0, 2.5, 2.4), (12.0, 9.0, 4.5))  # smallest and largest length, width, height
MIN_WALL_DISTANCE_M, MIN_TALKER_DISTANCE_M = 0.5, 0.7


@dataclass(frozen=True)
class RoomBankSpec:
    count: int = 48
    rt60_s: tuple[float, float] = (0.2, 1.0)
    sampling_rate: int = 16000
    seed: int = 0

    def key(self) -> str:
        payload = json.dumps({"version": ROOMS_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RoomBank:
    responses: tuple[np.ndarray, ...]
    rt60_s: np.ndarray  # each response's reverberation time, measured on it (Schroeder's backward integration)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return self.responses[int(rng.integers(len(self.responses)))]


def simulate_room(rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The impulse response from a talker to a microphone in a random shoebox room reverberating `rt60_s`,
    starting at the direct sound."""
    import pyroomacoustics as pra

    low, high = (np.asarray(bound) for bound in ROOM_SIZE_M)
    for _attempt in range(50):
        size = rng.uniform(low, high)
        try:
            absorption, order = pra.inverse_sabine(rt60_s, size)
        except ValueError:  # a room too large for so short a reverberation (absorption above 1)
            continue
        if order > MAX_REFLECTION_ORDER:
            continue
        talker, microphone = _positions(size, rng)
        room = pra.ShoeBox(size, fs=sampling_rate, materials=pra.Material(absorption), max_order=order,
                           use_rand_ism=True, max_rand_disp=0.05)
        room.add_source(talker)
        room.add_microphone(microphone)
        room.compute_rir()
        response = np.asarray(room.rir[0][0], dtype=np.float64)
        start = int(np.argmax(np.abs(response)))  # the direct path: the speech keeps its timing
        return response[start:]
    raise ValueError(f"no room between {ROOM_SIZE_M[0]} and {ROOM_SIZE_M[1]} m reverberates {rt60_s} s")


def _positions(size: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    margin = MIN_WALL_DISTANCE_M
    while True:
        talker = rng.uniform(margin, size - margin)
        talker[2] = rng.uniform(1.2, min(1.9, size[2] - margin))  # a head, standing or seated
        microphone = rng.uniform(margin, size - margin)
        microphone[2] = rng.uniform(0.7, min(1.6, size[2] - margin))  # on a table, a laptop, a phone in hand
        if np.linalg.norm(talker - microphone) >= MIN_TALKER_DISTANCE_M:
            return talker, microphone


def room_bank(spec: RoomBankSpec = RoomBankSpec(), *, use_cache: bool = True) -> RoomBank:
    """`spec.count` rooms with reverberation times spread evenly over `spec.rt60_s`, simulated once per spec
    and then read from the cache."""
    path = cache_root() / "rooms" / f"{spec.key()}.npz"
    if use_cache and path.exists():
        with np.load(path) as stored:
            count = int(stored["count"])
            return RoomBank(tuple(stored[f"response_{index}"] for index in range(count)), stored["rt60_s"])
    rng = np.random.default_rng(spec.seed)
    targets = np.linspace(*spec.rt60_s, spec.count) if spec.count > 1 else np.asarray([np.mean(spec.rt60_s)])
    rooms = [room_reverberating(float(target), spec.sampling_rate, rng) for target in targets]
    responses = tuple(response.astype(np.float32) for response, _measured in rooms)
    measured = np.asarray([measured for _response, measured in rooms])
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path, "wb") as file:
                np.savez(file, count=len(responses), rt60_s=measured,
                         **{f"response_{index}": response for index, response in enumerate(responses)})
        except (OSError, RobustSpeechError) as error:  # a read-only cache: the rooms are simulated again next time
            LOGGER.warning(f"note: the simulated rooms could not be cached in {path.parent} ({error}); they are "
                           "kept in memory for this run")
    return RoomBank(responses, measured)


def room_reverberating(rt60_s: float, sampling_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A simulated room whose response measures close to `rt60_s`, and what it measures.

    Sabine's formula, which sets the walls, predicts shorter reverberation than the image-source simulation
    then shows, so the first room's measurement corrects the target once."""
    response = simulate_room(rt60_s, sampling_rate, rng)
    measured = measure_rt60(response, sampling_rate)
    if measured > 0 and abs(measured / rt60_s - 1.0) > 0.15:
        retry = simulate_room(rt60_s * rt60_s / measured, sampling_rate, rng)
        retry_measured = measure_rt60(retry, sampling_rate)
        if abs(retry_measured - rt60_s) < abs(measured - rt60_s):
            response, measured = retry, retry_measured
    return response, measured


def measure_rt60(response: np.ndarray, sampling_rate: int) -> float:
    """The reverberation time of an impulse response: its energy decay from -5 to -25 dB, extrapolated to
    -60 dB (Schroeder's method, as pyroomacoustics implements it)."""
    import pyroomacoustics as pra

    return float(pra.experimental.measure_rt60(np.asarray(response, dtype=np.float64), fs=sampling_rate, decay_db=20))
