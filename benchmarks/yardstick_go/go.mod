module pingtree/benchmarks/yardstick_go

go 1.19
