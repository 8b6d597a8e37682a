# Fixture: inherits from a .py, a .json and a .yaml base.
_base_ = ['./base_model.py', 'base_schedule.json', './base_runtime.yaml']

model = dict(
    neck=dict(type='AugFPN'),                      # dict merges: only `type` changes
    heads=[dict(type='Head', num_classes=8)],      # list replaces the base list
    test_cfg=dict(_delete_=True, score_thr=0.3),   # _delete_ replaces the base dict
    extra=dict(_delete_=True, kept=1),             # key absent from the base: kept as is
)
optimizer = dict(lr=0.01)
lr_steps = [7]
image_size = {{ _base_.image_size }}
first_step = {{_base_.lr_steps.0}}
optimizer_name = 'optimizer-{{ _base_.optimizer.type }}-lr'
work_dir = './work_dirs/{{ fileBasenameNoExtension }}'
config_name = '{{ fileBasename }}'
config_ext = '{{ fileExtname }}'
