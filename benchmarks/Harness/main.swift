print("graft-bench")
