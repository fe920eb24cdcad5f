"""Apps on top of the library and the door unit: the ``edgeface`` command line (cli, cli_door),
the demo, the benchmarks and a local test broker. Nothing else imports them."""
