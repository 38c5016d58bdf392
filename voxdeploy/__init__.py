"""The `voxdeploy` command: a dispatcher over infra/, runtime/ and loadtests/."""
