# SPDX-License-Identifier: MIT
"""Interchange with other spiking-network tools: :mod:`spq.interop.nir` (NIR graphs)."""
