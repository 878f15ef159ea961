"""CMR logs list models by size when their names read as sizes."""


def test_model_names_that_read_as_sizes_sort_by_size():
    from scalinglaws.mixture.runs import model_order

    order = model_order(["1.6B", "3.1B", "460M", "940M"])
    assert sorted(order, key=order.get) == ["460M", "940M", "1.6B", "3.1B"]
    # names that are not sizes keep string order
    order = model_order(["small", "base", "1.6B"])
    assert sorted(order, key=order.get) == ["1.6B", "base", "small"]
