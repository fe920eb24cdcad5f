"""Door cameras see low light, motion blur, noise, heavy compression and low resolution: the
pipeline on degraded copies of the bundled clip (the toolchain's own degradations) must never
produce a false match, and must still recognise the singer."""

import threading

import numpy as np
import pytest

from edge.domain import Frame
from edge.match import Gallery
from edge.quality import QualityGates
from edge.unit.camera import VideoFileSource
from edge.unit.decide import Thresholds
from edge.unit.pipeline import Pipeline
from tests.integration.test_daemon import DEMO, LIN
from tools.calibration import AUGMENT


@pytest.fixture(scope="module")
def gallery(recognizer):
    names, embs = [], []
    for folder in sorted((DEMO / "gallery").iterdir()):
        for e in recognizer.enrollment_embeddings(sorted(folder.iterdir())):
            names.append(folder.name.replace("_", " "))
            embs.append(e)
    return Gallery(tuple(names), np.stack(embs), recognizer.embedder.fingerprint)


@pytest.mark.parametrize("variant", ["dark", "motion", "noise", "jpeg", "lowres"])
def test_degraded_clip_no_false_match_and_singer_recognised(variant, recognizer, gallery):
    rng = np.random.default_rng(0)
    degrade = AUGMENT[variant]
    announce = recognizer.operating_point("announce", far=1e-2, comparisons=len(gallery))  # a door unit's defaults
    pipeline = Pipeline(recognizer.detector, recognizer.embedder, gallery, Thresholds(announce.threshold), gates=QualityGates(40, 20, 0.6))
    decisions = []
    with VideoFileSource(DEMO / "short_hamilton_clip.mp4") as src:
        for f in src.frames(threading.Event()):
            decisions += [d.decision for d in pipeline.process(Frame(degrade(f.image, rng), f.index, f.timestamp)).decided]
    matches = [d for d in decisions if d.type == "match"]
    assert [d.person for d in matches] == [LIN]  # the only frontal enrolled face; nobody else ever matched
    assert all(d.similarity >= announce.threshold for d in matches)
