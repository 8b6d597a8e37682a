"""Necks (registered in ``MODELS``)."""

from detkit.models.necks.augfpn import AugFPN
from detkit.models.necks.bfp import BFP
from detkit.models.necks.fpg import FPG
from detkit.models.necks.fpn import FPN
from detkit.models.necks.fpn_carafe import FPN_CARAFE
from detkit.models.necks.hrfpn import HRFPN
from detkit.models.necks.pafpn import PAFPN

__all__ = ["BFP", "FPG", "FPN", "FPN_CARAFE", "HRFPN", "PAFPN", "AugFPN"]
