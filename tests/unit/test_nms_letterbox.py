import numpy as np

from edge.detect import letterbox, nms, weighted_nms
from edge.domain import BBox


def test_nms_keeps_best_of_overlapping_and_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6], np.float32)
    keep = nms(boxes, scores, 0.3)
    assert keep.tolist() == [1, 2]


def test_nms_threshold_matters():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.3).tolist() == [0]
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]


def test_weighted_suppression_blends_overlapping_candidates():
    """MediaPipe's WEIGHTED algorithm: the overlapping group becomes its score-weighted mean,
    scored as its best member; separate faces stay separate."""
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    kps = np.array([[1.0, 1.0], [3.0, 1.0], [55.0, 55.0]], np.float32)
    scores = np.array([0.6, 0.2, 0.9], np.float32)
    b, k, s = weighted_nms(boxes, kps, scores, 0.3)
    assert s.tolist() == [np.float32(0.9), np.float32(0.6)]
    assert np.allclose(b[1], [0.5, 0, 10.5, 10]) and np.allclose(k[1], [1.5, 1.0])  # (0.6*0 + 0.2*2) / 0.8
    assert np.allclose(b[0], boxes[2]) and np.allclose(k[0], kps[2])
    e = weighted_nms(boxes[:0], kps[:0], scores[:0], 0.3)
    assert all(len(x) == 0 for x in e)


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    img = np.full((100, 400, 3), 200, np.uint8)
    canvas, scale = letterbox(img, 480, 640)
    assert canvas.shape == (480, 640, 3)
    assert scale == 1.6
    assert canvas[:160, :].min() == 200 and canvas[160:, :].max() == 0


def test_bbox_iou():
    a, b = BBox(0, 0, 10, 10), BBox(5, 0, 15, 10)
    assert abs(a.iou(b) - 1 / 3) < 1e-9
    assert a.iou(BBox(20, 20, 30, 30)) == 0.0


def test_tile_candidates_cut_by_an_inner_tile_edge_are_dropped():
    from edge.detect import _whole_in_tile

    # tile x 100..600, y 0..400 of a 1000x800 image: left, right and bottom edges are inner
    boxes = np.array([[150, 50, 300, 200], [90, 50, 250, 200], [400, 300, 598, 399], [200, 0, 300, 100]], np.float32)
    kps, scores = np.zeros((4, 10), np.float32), np.array([0.9, 0.95, 0.8, 0.7], np.float32)
    b, _, s = _whole_in_tile(boxes, kps, scores, (100, 0, 500, 400), (1000, 800))
    assert s.tolist() == [np.float32(0.9), np.float32(0.7)]  # the top edge is the image's: kept
    b, _, s = _whole_in_tile(boxes, kps, scores, (0, 0, 1000, 800), (1000, 800))
    assert len(s) == 4  # a tile that is the whole image cuts nothing
