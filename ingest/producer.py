"""Seeded synthetic access load, vectorised with numpy.

The model, all in event time:

- **Arrivals** are a Poisson process whose rate follows the day:
  ``rate(t) = rate_per_s * (1 + diurnal_amplitude * cos(2*pi*(t - peak)/86400))``
  with the peak at ``diurnal_peak_hour`` UTC; sampled exactly by thinning.
- **Objects** have a Zipf popularity (weight ``1/rank**zipf_s``, ranks shuffled
  so popularity is independent of age), a lognormal size fixed per object, a
  tenant, and a birth time. ``initial_fraction`` of them were born before
  ``start_ts`` (spread over ``history_s``); the rest are born during the run,
  one per event with probability ``new_object_share``, as a PUT.
- **Aging**: an object's weight decays as ``2**(-age/aging_half_life_s)``.
  Since every object decays at the same speed, the relative weights are
  ``zipf * 2**(birth/half_life)`` for all time, so one cumulative-weight array,
  extended as objects are born, samples the born prefix at any instant.
- **Ops** follow ``op_mix`` (mostly GET/HEAD, some PUT overwrites, rare COPY
  and DELETE), with two rules: the first access of an object in the stream is
  a PUT, and so is the next access after a DELETE (re-creation).

Everything derives from ``seed``; the record stream does not depend on the
batch size.
"""

from __future__ import annotations

import math
from itertools import repeat
from typing import Iterator, Mapping

import numpy as np

from tiering.domain.clock import DAY_S
from tiering.domain.records import DEFAULT_TENANT, AccessRecord, Op

from .traces import DEFAULT_BASE

OP_ORDER = (Op.GET, Op.HEAD, Op.PUT, Op.COPY, Op.DELETE)
DEFAULT_OP_MIX = {"GET": 0.55, "HEAD": 0.35, "PUT": 0.08, "COPY": 0.015, "DELETE": 0.005}
_PUT, _DEL = OP_ORDER.index(Op.PUT), OP_ORDER.index(Op.DELETE)
_CHUNK = 16_384  # candidate arrivals per internal step; fixed so output ignores batch_size
_MAX_EXP = 600.0  # rescale cumulative weights before 2**x gets near float64 overflow


class SyntheticProducer:
    def __init__(self, objects: int, seed: int, tenants: int = 1, rate_per_s: float = 100.0,
                 start_ts: float = DEFAULT_BASE, size_median: float = 65_536.0,
                 size_sigma: float = 2.0, size_min: int = 1, size_max: int = 5 * 2**40,
                 diurnal_amplitude: float = 0.5, diurnal_peak_hour: float = 14.0,
                 aging_half_life_s: float | None = 7 * DAY_S, zipf_s: float = 1.0,
                 initial_fraction: float = 0.5, history_s: float | None = None,
                 new_object_share: float = 0.02, op_mix: Mapping[str, float] | None = None,
                 key_prefix: str = "obj-"):
        if isinstance(objects, bool) or not isinstance(objects, int) or objects < 1:
            raise ValueError(f"objects must be an integer >= 1, got {objects!r}")
        if not isinstance(tenants, int) or tenants < 1:
            raise ValueError(f"tenants must be an integer >= 1, got {tenants!r}")
        if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
        if not 0.0 <= diurnal_amplitude <= 1.0:
            raise ValueError(f"diurnal_amplitude must be in [0, 1], got {diurnal_amplitude!r}")
        if not (size_median > 0 and size_sigma >= 0 and 0 <= size_min <= size_max):
            raise ValueError("need size_median > 0, size_sigma >= 0 and 0 <= size_min <= size_max")
        if aging_half_life_s is not None and not aging_half_life_s > 0:
            raise ValueError(f"aging_half_life_s must be > 0 or None, got {aging_half_life_s!r}")
        if not 0.0 <= initial_fraction <= 1.0 or not 0.0 <= new_object_share < 1.0:
            raise ValueError("need 0 <= initial_fraction <= 1 and 0 <= new_object_share < 1")
        if zipf_s < 0:
            raise ValueError(f"zipf_s must be >= 0, got {zipf_s!r}")
        if not start_ts >= 0:
            raise ValueError(f"start_ts must be epoch seconds >= 0, got {start_ts!r}")
        mix = dict(DEFAULT_OP_MIX if op_mix is None else op_mix)
        unknown = set(mix) - {o.value for o in OP_ORDER}
        if unknown or any(not (v >= 0) for v in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError(f"op_mix needs non-negative weights over {[o.value for o in OP_ORDER]}, got {mix}")
        total = sum(mix.values())
        self.op_cdf = np.cumsum([mix.get(o.value, 0.0) / total for o in OP_ORDER])
        self.op_cdf[-1] = 1.0

        self.objects, self.seed, self.tenants = objects, seed, tenants
        self.rate_per_s, self.start_ts = float(rate_per_s), float(start_ts)
        self.diurnal_amplitude = float(diurnal_amplitude)
        self.peak_s = float(diurnal_peak_hour) * 3600.0
        self.half_life = aging_half_life_s
        self.new_object_share = float(new_object_share)
        self.history_s = float(history_s if history_s is not None
                               else 2 * (aging_half_life_s or 7 * DAY_S))

        setup_seq, self._event_seq = np.random.SeedSequence(seed).spawn(2)
        rng = np.random.default_rng(setup_seq)
        ranks = rng.permutation(objects)  # object id -> popularity rank (0 = hottest)
        self.zipf_weight = (ranks + 1.0) ** -float(zipf_s)
        sizes = rng.lognormal(math.log(size_median), size_sigma, objects)
        self.sizes = np.clip(np.rint(sizes), size_min, size_max).astype(np.int64)
        self.tenant_of = (rng.integers(0, tenants, objects) if tenants > 1
                          else np.zeros(objects, dtype=np.int64))
        self.tenant_names = ([DEFAULT_TENANT] if tenants == 1
                             else [f"tenant-{i:0{len(str(tenants - 1))}d}" for i in range(tenants)])
        self.n_initial = max(1, round(initial_fraction * objects))
        # Ids are in birth order: initial objects born over the history, oldest first.
        ages = np.sort(rng.random(self.n_initial))[::-1] * self.history_s
        self.initial_births = self.start_ts - ages
        width = len(str(objects - 1))
        self._key = f"{key_prefix}{{:0{width}d}}".format

    def key(self, object_id: int) -> str:
        return self._key(object_id)

    def _exponent(self, births: np.ndarray) -> np.ndarray:
        if self.half_life is None:
            return np.zeros(len(births))
        return (births - self.start_ts) / self.half_life

    def _chunks(self) -> Iterator[list[AccessRecord]]:
        """Endless stream of record lists, one per internal chunk of arrivals."""
        n, rng = self.objects, np.random.default_rng(self._event_seq)
        births = np.empty(n)
        births[: self.n_initial] = self.initial_births
        cum = np.empty(n)  # cumulative weights of the born prefix
        shift = 0.0
        exps = self._exponent(self.initial_births)
        if exps.size and exps.max() > _MAX_EXP:  # pragma: no cover - absurd history
            shift = float(exps.max())
        cum[: self.n_initial] = np.cumsum(self.zipf_weight[: self.n_initial] * np.exp2(exps - shift))
        n_born = self.n_initial
        alive = np.zeros(n, dtype=bool)  # False: next access must be a PUT
        amp, lam_max = self.diurnal_amplitude, self.rate_per_s * (1.0 + self.diurnal_amplitude)
        t_last = self.start_ts
        op_objs = np.array(OP_ORDER, dtype=object)
        tenant_objs = np.array(self.tenant_names, dtype=object)
        key = self._key
        while True:
            gaps = rng.exponential(1.0 / lam_max, _CHUNK)
            cand = t_last + np.cumsum(gaps)
            t_last = float(cand[-1])
            keep = rng.random(_CHUNK) * (1.0 + amp) < 1.0 + amp * np.cos(
                (2 * math.pi / DAY_S) * (cand - self.peak_s))
            ts = cand[keep]
            m = len(ts)
            if m == 0:
                continue
            # Births: a share of events creates the next unborn object.
            is_birth = rng.random(m) < self.new_object_share
            born_upto = n_born + np.cumsum(is_birth)
            is_birth &= born_upto <= n
            born_upto = np.minimum(born_upto, n)
            nb = int(is_birth.sum())
            if nb:
                new_ids = np.arange(n_born, n_born + nb)
                births[new_ids] = ts[is_birth]
                exps = self._exponent(ts[is_birth])
                if exps[-1] - shift > _MAX_EXP:
                    cum[:n_born] *= np.exp2(shift - exps[-1])
                    shift = float(exps[-1])
                cum[n_born:n_born + nb] = cum[n_born - 1] + np.cumsum(
                    self.zipf_weight[new_ids] * np.exp2(exps - shift))
                n_born += nb
            # Accesses: sample the prefix born so far, weighted by popularity x age.
            u = rng.random(m) * cum[born_upto - 1]
            obj = np.minimum(np.searchsorted(cum[:n_born], u, side="right"), born_upto - 1)
            codes = np.searchsorted(self.op_cdf, rng.random(m), side="right").astype(np.int8)
            np.minimum(codes, len(OP_ORDER) - 1, out=codes)
            if nb:
                obj[is_birth] = new_ids
                codes[is_birth] = _PUT
            codes = self._enforce_puts(obj, codes, alive)
            sizes = self.sizes[obj].tolist()
            for j in np.flatnonzero(codes == _DEL).tolist():
                sizes[j] = None
            yield list(map(AccessRecord, ts.tolist(), tenant_objs[self.tenant_of[obj]].tolist(),
                           map(key, obj.tolist()), op_objs[codes].tolist(), sizes, repeat(None)))

    @staticmethod
    def _enforce_puts(obj: np.ndarray, codes: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """First access of a not-alive object, and the access after a DELETE, become PUT.

        Works per object in stream order (stable sort); updates ``alive``.
        """
        order = np.argsort(obj, kind="stable")
        so, sc = obj[order], codes[order]
        first = np.ones(len(so), dtype=bool)
        first[1:] = so[1:] != so[:-1]
        must = first & ~alive[so]
        after_del = np.zeros(len(so), dtype=bool)
        after_del[1:] = ~first[1:] & (sc[:-1] == _DEL)
        forced = must | after_del
        while True:  # a forced DELETE no longer forces its successor; iterate to the fixpoint
            prev_forced = np.zeros(len(so), dtype=bool)
            prev_forced[1:] = forced[:-1]
            nxt = must | (after_del & ~prev_forced)
            if np.array_equal(nxt, forced):
                break
            forced = nxt
        sc[forced] = _PUT
        last = np.ones(len(so), dtype=bool)
        last[:-1] = so[1:] != so[:-1]
        alive[so[last]] = sc[last] != _DEL
        out = np.empty_like(codes)
        out[order] = sc
        return out

    def records(self, total: int | None = None) -> Iterator[AccessRecord]:
        """One record at a time; endless when ``total`` is None."""
        left = total
        for chunk in self._chunks():
            if left is not None:
                if left <= 0:
                    return
                chunk = chunk[:left]
                left -= len(chunk)
            yield from chunk

    def batches(self, batch_size: int, total: int | None = None) -> Iterator[list[AccessRecord]]:
        """Lists of ``batch_size`` records (the last may be shorter); endless without ``total``.

        Each call starts the same seeded stream from the beginning.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0, got {total!r}")
        buf: list[AccessRecord] = []
        left = total
        for chunk in self._chunks():
            if left is not None:
                chunk = chunk[:left]
                left -= len(chunk)
            buf.extend(chunk)
            i = 0
            while len(buf) - i >= batch_size:
                yield buf[i:i + batch_size]
                i += batch_size
            buf = buf[i:]
            if left is not None and left <= 0:
                break
        if buf:
            yield buf
