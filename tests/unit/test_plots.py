import base64

from todo_runbook import plots

from . import evidence_samples as samples


def test_every_figure_renders_from_recorded_evidence():
    verify = samples.verify()
    figures = [plots.image_sizes(samples.build(), {"backend": 300, "frontend": 500}),
               plots.pod_timeline(verify["pods"], 30), plots.latency(verify["latency"], 500),
               plots.resources(verify["resources"]),
               plots.trend([{"run_id": "a", "health_p95_ms": "10"}, {"run_id": "b", "health_p95_ms": "12"}],
                           ["health_p95_ms"])]
    for fig in figures:
        png = base64.b64decode(plots.to_base64_png(fig))
        assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_no_data_means_no_figure_rather_than_an_empty_one():
    assert plots.image_sizes({"images": []}, {}) is None
    assert plots.pod_timeline([]) is None
    assert plots.latency({"samples_ms": []}) is None and plots.latency(None) is None
    assert plots.resources({"samples": []}) is None
    assert plots.trend([{"run_id": "only-one"}], ["health_p95_ms"]) is None


def test_over_budget_images_are_drawn_red():
    build = samples.build()
    fig = plots.image_sizes(build, {"backend": 100, "frontend": 500})
    bars = fig.axes[0].patches
    assert bars[0].get_facecolor()[:3] != bars[1].get_facecolor()[:3]
    plots.to_base64_png(fig)


def test_labels_over_the_bars_stay_clear_of_the_titles():
    build = samples.build()
    for image in build["images"]:  # the tallest bar right at its budget: the label sits highest
        image["size_mb"] = 500.0
    fig = plots.image_sizes(build, {"backend": 500, "frontend": 500})
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:  # each label inside its plot area: below the top edge, so never into the title above it
        top = ax.get_window_extent(renderer).y1
        for text in ax.texts:
            assert text.get_window_extent(renderer).y1 <= top, (text.get_text(), ax.get_title())
    plots.to_base64_png(fig)
