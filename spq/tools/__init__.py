# SPDX-License-Identifier: MIT
"""Device tools: board table, firmware build, serial protocol, runners (QEMU, serial board)
and the on-device profiler."""
