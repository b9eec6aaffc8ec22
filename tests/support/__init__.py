# SPDX-License-Identifier: MIT
"""What the tests share (no tests here), imported as ``tests.support.<module>``:

* :mod:`tests.support.firmware`: the per-session build cache and the exported random models
  the firmware, QEMU, protocol, flash and profile tests run (pytest fixtures, registered in
  tests/conftest.py);
* :mod:`tests.support.modelgen`: random integer models drawn straight in integers, a numpy
  reading of docs/semantics.md, and exports written by hand (C, header, manifest) so that the
  C runtime and the exporter are tested against code that is not theirs;
* :mod:`tests.support.fuzzing`: the frame and descriptor fuzzers of tests/test_fuzz.py and
  bench/fuzz.py;
* :mod:`tests.support.nir_producers`: small networks from snnTorch, Norse, Sinabs and
  SpikingJelly, exported to NIR by the libraries themselves.
"""
