"""MMDetection v2.28.2's Cityscapes converter logic (``tools/dataset_converters/cityscapes.py``,
``load_img_info`` and ``cvt_annotations``), transcribed with mmcv replaced by PIL/json, as the
reference detkit's single-pass converter must match."""

import os.path as osp

import cityscapesscripts.helpers.labels as CSLabels
import numpy as np
import pycocotools.mask as maskUtils
from PIL import Image


def load_img_info(files):
    img_file, inst_file, segm_file = files
    inst_img = np.asarray(Image.open(inst_file))  # mmcv.imread(inst_file, 'unchanged')
    unique_inst_ids = np.unique(inst_img[inst_img >= 24])
    anno_info = []
    for inst_id in unique_inst_ids:
        label_id = inst_id // 1000 if inst_id >= 1000 else inst_id
        label = CSLabels.id2label[label_id]
        if not label.hasInstances or label.ignoreInEval:
            continue
        category_id = label.id
        iscrowd = int(inst_id < 1000)
        mask = np.asarray(inst_img == inst_id, dtype=np.uint8, order="F")
        mask_rle = maskUtils.encode(mask[:, :, None])[0]
        area = maskUtils.area(mask_rle)
        bbox = maskUtils.toBbox(mask_rle)
        mask_rle["counts"] = mask_rle["counts"].decode()
        anno = dict(
            iscrowd=iscrowd,
            category_id=category_id,
            bbox=bbox.tolist(),
            area=area.tolist(),
            segmentation=mask_rle,
        )
        anno_info.append(anno)
    video_name = osp.basename(osp.dirname(img_file))
    return dict(
        file_name=osp.join(video_name, osp.basename(img_file)),
        height=inst_img.shape[0],
        width=inst_img.shape[1],
        anno_info=anno_info,
        segm_file=osp.join(video_name, osp.basename(segm_file)),
    )


def cvt_annotations(image_infos):
    out_json = dict(images=[], categories=[], annotations=[])
    img_id = 0
    ann_id = 0
    for image_info in image_infos:
        image_info["id"] = img_id
        anno_infos = image_info.pop("anno_info")
        out_json["images"].append(image_info)
        for anno_info in anno_infos:
            anno_info["image_id"] = img_id
            anno_info["id"] = ann_id
            out_json["annotations"].append(anno_info)
            ann_id += 1
        img_id += 1
    for label in CSLabels.labels:
        if label.hasInstances and not label.ignoreInEval:
            out_json["categories"].append(dict(id=label.id, name=label.name))
    if len(out_json["annotations"]) == 0:
        out_json.pop("annotations")
    return out_json
