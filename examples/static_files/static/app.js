document.querySelector("h1").textContent += " (and JavaScript)";
