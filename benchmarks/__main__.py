"""One entry point for every benchmark:

    python -m benchmarks speed [--n 200] [--repeats 3] [--device auto|cpu|cuda] [--peer-python PATH]
    python -m benchmarks grouping [--bursts 48] [--no-real]
    python -m benchmarks scale [--sizes 100,1000,10000]
    python -m benchmarks fgaesq [--series 24] [--lengths 5,8] [--device cuda]   # O(n) vs exhaustive
    python -m benchmarks fgaesq-official [--lengths 3,5,8,15,30]   # the same with the official tokens
    python -m benchmarks fgaesq-burst [--frames 10] [--size 6000x4000]   # CLI on a 24 MP burst: s/frame, peak RSS
    python -m benchmarks pick [--long-side 2000] [--photos N]   # best of burst on real photographs
    python -m benchmarks scale-engines [--n 10000] [--repeats 3]   # local vs Ray engine
    python -m benchmarks consensus-cost [--bursts 6] [--long-side 1600]   # the series consensus: ms/frame, cache bytes
    python -m benchmarks face-recall        # faces found by size, and CPU ms per frame: BlazeFace vs Haar
    python -m benchmarks review [--frames 3000]   # the review page in headless Chromium: first screen, next frame, compare, memory
    python -m benchmarks gpu-path [--n 100] [--tiny]   # nvJPEG -> ViT-B/16 -> FGAesQ series on CUDA (--tiny: CPU dry run)
    python -m benchmarks all [--quick]      # all three (--quick: small sizes)
    python -m benchmarks data speed|grouping|scale   # only generate (cached) data

Results: benchmarks/results/{speed,grouping,scale}-<machine>.json. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "data":
        from .data import main as data_main

        return data_main(argv[1:])
    if argv and argv[0] == "face-recall":
        from .face_recall import main as face_recall_main

        face_recall_main(argv[1:])
        return None
    if argv and argv[0] == "review":
        from .review import main as review_main

        review_main(argv[1:])
        return None
    if argv and argv[0] == "gpu-path":
        from .gpu_path import main as gpu_path_main

        gpu_path_main(argv[1:])
        return None
    from .grouping import add_grouping_args, main_grouping
    from .speed import add_scale_args, add_speed_args, main_scale, main_speed

    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_speed_args(sub.add_parser("speed", help="photocull vs the decode bound and peers"))
    add_grouping_args(sub.add_parser("grouping", help="grouping precision/recall/F1/ARI"))
    add_scale_args(sub.add_parser("scale", help="time/image and memory for 100..10,000 files"))
    from .fgaesq_series import add_fgaesq_args, main_fgaesq

    add_fgaesq_args(sub.add_parser("fgaesq", help="FGAesQ O(n) vs exhaustive series ranking, throughput"))
    from .fgaesq_official import add_args as add_official_args, main as main_official

    add_official_args(sub.add_parser("fgaesq-official", help="FGAesQ official tokens: O(n) vs all pairs, passes/s"))
    from .fgaesq_burst import add_args as add_burst_args, main as main_burst

    add_burst_args(sub.add_parser("fgaesq-burst", help="FGAesQ through the CLI on a 24 MP burst: s/frame, peak memory"))
    from .pick import add_pick_args, main_pick

    add_pick_args(sub.add_parser("pick", help="best of burst and flags on bursts rendered from real photographs"))
    from .consensus_cost import add_consensus_cost_args, main_consensus_cost

    add_consensus_cost_args(sub.add_parser("consensus-cost", help="the series consensus: ms per frame, cache bytes"))
    from .scale_engines import add_scale_engines_args, main_scale_engines

    add_scale_engines_args(sub.add_parser("scale-engines", help="local vs Ray engine on 10,000 small files"))
    p_all = sub.add_parser("all", help="speed, grouping and scale with their defaults")
    p_all.add_argument("--quick", action="store_true", help="speed --n 30 --repeats 2, grouping --bursts 20 --no-real, scale --sizes 100,1000")
    p_all.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    if a.cmd == "speed":
        main_speed(a)
    elif a.cmd == "grouping":
        main_grouping(a)
    elif a.cmd == "scale":
        main_scale(a)
    elif a.cmd == "pick":
        main_pick(a)
    elif a.cmd == "fgaesq":
        main_fgaesq(a)
    elif a.cmd == "consensus-cost":
        main_consensus_cost(a)
    elif a.cmd == "scale-engines":
        main_scale_engines(a)
    elif a.cmd == "fgaesq-official":
        main_official(a)
    elif a.cmd == "fgaesq-burst":
        main_burst(a)
    else:
        q = a.quick
        sp = argparse.ArgumentParser()
        add_speed_args(sp)
        main_speed(sp.parse_args((["--n", "30", "--repeats", "2"] if q else []) + ["--device", a.device]))
        gp = argparse.ArgumentParser()
        add_grouping_args(gp)
        main_grouping(gp.parse_args((["--bursts", "20", "--no-real"] if q else []) + ["--device", a.device]))
        sc = argparse.ArgumentParser()
        add_scale_args(sc)
        main_scale(sc.parse_args(["--sizes", "100,1000"] if q else []))


if __name__ == "__main__":
    main()
