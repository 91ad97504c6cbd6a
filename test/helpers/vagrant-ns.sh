#!/bin/sh
# vagrant-ns.sh — the `vagrant` binary the vagrant: driver's e2e test configures
# (driverOptions.vagrantBinary): runs the real vagrant inside the test's network namespace
# (BRKVG_NS, prefix brkvg) so Vagrant's own SSH reaches the guests there. VAGRANT_HOME and
# LIBVIRT_DEFAULT_URI come from driverOptions.env.
case ${BRKVG_NS:-} in brkvg*) ;; *) echo "vagrant-ns.sh: BRKVG_NS must name the test's brkvg* netns" >&2; exit 2 ;; esac
exec ip netns exec "$BRKVG_NS" vagrant "$@"
