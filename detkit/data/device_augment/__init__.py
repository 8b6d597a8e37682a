"""Device-side augmentation (``device_augment`` config key): the loader stops after loading,
the seed's train pipeline runs on the device batch inside the training step."""

from detkit.data.device_augment.batch import DeviceAugment
from detkit.data.device_augment.loader_tail import PrepareDeviceBatch
from detkit.data.device_augment.split import split_device_augment

__all__ = ["DeviceAugment", "PrepareDeviceBatch", "split_device_augment"]
