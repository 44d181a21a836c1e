print("samu")
