/*
 * The hosted invoice page's card payment (Billing Bridge).
 *
 * The card goes to Stripe only: Stripe.js confirms a SetupIntent with it,
 * and the bridge charges the saved card. 3-D Secure happens here, in the
 * browser, with stripe.confirmCardPayment; the bridge then asks Stripe how
 * the payment ended. Nothing here decides whether an invoice is paid: the
 * page is reloaded from the server once a payment succeeds.
 */
(function () {
  "use strict";

  var root = document.getElementById("pay");
  if (!root || !root.dataset.publishableKey) {
    return;
  }
  var data = root.dataset;
  var form = document.getElementById("pay-form");
  var payButton = document.getElementById("pay-button");
  var authButton = document.getElementById("authenticate-button");
  var message = document.getElementById("pay-message");

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "pay-message" + (kind ? " pay-message-" + kind : "");
  }

  function busy(on) {
    if (payButton) {
      payButton.disabled = on;
      payButton.textContent = on ? data.textPaying : data.textPay;
    }
    if (authButton) {
      authButton.disabled = on;
    }
    root.setAttribute("aria-busy", on ? "true" : "false");
  }

  if (typeof window.Stripe !== "function") {
    say(data.textError, "error");
    if (payButton) {
      payButton.disabled = true;
    }
    return;
  }

  var stripe = window.Stripe(data.publishableKey, { locale: data.locale });
  var card = stripe.elements().create("card", {
    style: { base: { fontSize: "16px", color: "#1f2937" } },
  });
  card.mount("#card-element");

  // POST JSON to the bridge; resolves with the answer, rejects with the
  // bridge's own message when it refuses.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (answer) {
          if (!response.ok) {
            var error = new Error((answer.error && answer.error.message) || data.textError);
            error.fromBridge = true;
            throw error;
          }
          return answer;
        });
    });
  }

  // Show how a charge ended; 3-D Secure first when the bank asks for it.
  async function finish(result) {
    if (result.status === "requires_action") {
      // Whatever the browser says, the bridge asks Stripe for the outcome.
      var options = result.payment_method_id ? { payment_method: result.payment_method_id } : {};
      await stripe.confirmCardPayment(result.client_secret, options);
      result = await post(data.confirmUrl, { payment_intent_id: result.payment_intent_id });
    }
    if (result.status === "succeeded") {
      say(result.message, "ok");
      if (form) {
        form.classList.add("done");
      }
      window.setTimeout(function () {
        window.location.reload();
      }, 800);
      return;
    }
    if (result.status === "processing") {
      say(result.message, "info");
      return;
    }
    say(result.message || data.textError, "error");
    busy(false);
  }

  async function run(step) {
    busy(true);
    say("");
    try {
      await finish(await step());
    } catch (error) {
      say((error && error.fromBridge && error.message) || data.textError, "error");
      busy(false);
    }
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      run(async function () {
        var setup = await post(data.setupUrl, {});
        var confirmed;
        try {
          confirmed = await stripe.confirmCardSetup(setup.client_secret, {
            payment_method: { card: card },
          });
        } catch (error) {
          confirmed = { error: error };
        }
        if (!confirmed || confirmed.error || !confirmed.setupIntent) {
          var problem = (confirmed && confirmed.error) || {};
          var failure = new Error(problem.message || data.textError);
          failure.fromBridge = true;
          throw failure;
        }
        return post(data.payUrl, { setup_intent_id: confirmed.setupIntent.id });
      });
    });
  }

  if (authButton) {
    authButton.addEventListener("click", function () {
      run(function () {
        return post(data.authenticateUrl, {});
      });
    });
  }
})();
