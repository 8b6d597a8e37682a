# Fixture: a base two levels up the chain, resolved relative to this file.
_base_ = "../child.py"
max_epochs = 24
config_dir = "{{ fileDirname }}"
